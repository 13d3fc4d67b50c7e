//! The control center speaks German and English: the company's language by default, the
//! viewer's choice (`?lang=`) kept in a cookie. Every word a page shows is here.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    De,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Self::De => "de",
            Self::En => "en",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "de" => Some(Self::De),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// A company's language setting (`de-DE`, `en-US`, …).
    pub fn of_company(language: &str) -> Self {
        if language.starts_with("en") {
            Self::En
        } else {
            Self::De
        }
    }

    /// The text for `key` (the key itself if it is missing, which a unit test rules out for
    /// every key the pages use).
    pub fn t(self, key: &'static str) -> &'static str {
        TEXTS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, de, en)| match self {
                Self::De => *de,
                Self::En => *en,
            })
            .unwrap_or(key)
    }
}

/// (key, German, English).
pub const TEXTS: &[(&str, &str, &str)] = &[
    ("title", "Kontrollzentrum", "Control center"),
    ("overview", "Übersicht", "Overview"),
    ("calls", "Anrufe", "Calls"),
    ("analytics", "Auswertung", "Analytics"),
    ("agents", "Agenten", "Agents"),
    ("logs", "Protokolle", "Logs"),
    ("test_call", "Testanruf", "Test call"),
    ("logout", "Abmelden", "Log out"),
    ("login", "Anmelden", "Log in"),
    ("username", "Benutzername (E-Mail)", "User name (e-mail)"),
    ("password", "Passwort", "Password"),
    ("company", "Unternehmen", "Company"),
    ("active_calls", "Laufende Anrufe", "Active calls"),
    (
        "no_active_calls",
        "Gerade läuft kein Anruf.",
        "No call right now.",
    ),
    ("today", "Heute", "Today"),
    ("yesterday", "Gestern", "Yesterday"),
    ("minutes", "Minuten", "Minutes"),
    ("bookings", "Buchungen", "Bookings"),
    ("bookings_per_staff", "Buchungen je Mitarbeiter", "Bookings per staff member"),
    ("funnel", "Vom Anruf zum Termin", "From call to appointment"),
    ("funnel_help", "Ob ein Anrufer einen Termin wollte, sagt Retells Auswertung nach dem Anruf (wanted_appointment in der Agentendatei); ob gebucht wurde, sagen die Werkzeuge.", "Whether a caller wanted an appointment comes from Retell's post-call analysis (wanted_appointment in the agent file); whether one was booked, from the tools."),
    ("funnel_wanted", "wollten einen Termin", "wanted an appointment"),
    ("funnel_booked", "gebucht", "booked"),
    ("funnel_rate", "gebucht von gewollt", "booked of wanted"),
    ("funnel_by_version", "Je Agent und Version", "Per agent and version"),
    ("funnel_by_staff", "Je gewünschter Person", "Per person asked for"),
    ("funnel_anyone", "egal wer", "anyone"),
    ("funnel_lost", "Wollten einen Termin und bekamen keinen", "Wanted an appointment and got none"),
    ("funnel_reason", "Grund", "Reason"),
    ("funnel_turn", "Wo es verloren ging", "Where it was lost"),
    ("funnel_unanalysed", "Anrufe ohne Auswertung (Agent ohne wanted_appointment)", "Calls without analysis (agent without wanted_appointment)"),
    ("funnel_unavailable", "Die Auswertung nach Anrufzielen ist gerade nicht lesbar; die übrigen Zahlen stimmen.", "The funnel cannot be read right now; the other figures are complete."),
    ("funnel_cut", "Nicht alle Anrufe des Zeitraums konnten gelesen werden (mehr als 50.000, oder zu viele für eine Seite): gezählt sind die neuesten.", "Not every call of the range could be read (over 50,000, or too many for one page): the newest are counted."),
    ("reason_no_time", "keine passende Zeit", "no suitable time"),
    ("reason_price", "Preis", "price"),
    ("reason_not_offered", "Leistung nicht im Angebot", "service not offered"),
    ("reason_person", "wollte einen Menschen", "wanted a person"),
    ("reason_undecided", "unentschlossen", "undecided"),
    ("reason_hung_up", "aufgelegt", "hung up"),
    ("reason_technical", "technisches Problem", "technical problem"),
    ("reason_other", "anderes", "other"),
    ("staff", "Mitarbeiter", "Staff"),
    ("appointments", "Termine", "Appointments"),
    ("phone", "Telefon", "Phone"),
    ("desk_taken_nobody", "Zu dieser Zeit ist niemand frei.", "Nobody is free at that time."),
    ("desk_taken_free", "Zu dieser Zeit schon vergeben. Frei ist:", "Taken at that time. Free:"),
    ("desk_not_booked", "Der Termin ist nicht mehr gebucht (inzwischen abgesagt oder verschoben).", "The appointment is no longer booked (cancelled or moved meanwhile)."),
    ("desk_prev_day", "Vortag", "Previous day"),
    ("desk_next_day", "Folgetag", "Next day"),
    ("desk_prev_week", "Vorwoche", "Previous week"),
    ("desk_next_week", "Folgewoche", "Next week"),
    ("desk_day_view", "Tagesansicht", "Day view"),
    ("desk_week_view", "Wochenansicht", "Week view"),
    ("desk_week_of", "Woche vom", "week of"),
    ("desk_free_day", "Keine Termine", "No appointments"),
    ("desk_source_phone", "Telefon", "Phone"),
    ("desk_source_desk", "Empfang", "Desk"),
    ("desk_change", "Ändern", "Change"),
    ("desk_move", "Verschieben", "Move"),
    ("desk_arrived", "Erschienen", "Arrived"),
    ("desk_no_show", "Nicht erschienen", "No-show"),
    ("desk_cancel", "Absagen", "Cancel"),
    ("desk_cancelled", "Abgesagt", "Cancelled"),
    ("desk_booked", "Gebucht", "Booked"),
    ("desk_anyone", "Wer frei ist", "Whoever is free"),
    ("desk_new", "Neuer Termin", "New appointment"),
    ("desk_book", "Buchen", "Book"),
    ("desk_log", "Änderungen", "Changes"),
    ("desk_moved", "Verschoben", "Moved"),
    ("desk_changed", "Geändert", "Changed"),
    ("desk_absence", "Abwesenheit eintragen", "Mark an absence"),
    ("desk_absent_from", "Von", "From"),
    ("desk_absent_to", "Bis (leer: ein Tag)", "To (empty: one day)"),
    ("desk_absence_save", "Eintragen", "Save"),
    ("desk_absent", "abwesend", "absent"),
    ("desk_no_collisions", "Keine Termine betroffen.", "No appointments affected."),
    ("desk_collisions", "Diese Termine kollidieren jetzt (verschieben oder anrufen, nichts wurde abgesagt):", "These appointments collide now (move them or call; nothing was cancelled):"),
    ("desk_collides", "Mitarbeiter abwesend: verschieben oder Kunden anrufen", "Staff member absent: move or call the customer"),
    ("mon", "Mo", "Mon"),
    ("tue", "Di", "Tue"),
    ("wed", "Mi", "Wed"),
    ("thu", "Do", "Thu"),
    ("fri", "Fr", "Fri"),
    ("sat", "Sa", "Sat"),
    ("sun", "So", "Sun"),
    ("save", "Speichern", "Save"),
    ("settings", "Einstellungen", "Settings"),
    ("settings_note", "Jeder Bereich wird für sich gespeichert und gilt für den Telefonagenten spätestens nach einer Minute. Agenten, Nummern und Kalender ändern Administratoren.", "Each section is saved on its own and reaches the phone agent within a minute. Agents, numbers and the calendar are changed by admins."),
    ("settings_stale", "Die Einstellungen wurden inzwischen geändert (siehe Änderungen unten). Bitte die aktuelle Fassung prüfen und erneut speichern.", "The settings were changed meanwhile (see the changes below). Please check the current version and save again."),
    ("settings_saved", "Gespeichert.", "Saved."),
    ("settings_general", "Allgemein", "General"),
    ("settings_promise", "Rückruf binnen (Minuten Öffnungszeit)", "Call back within (minutes of opening hours)"),
    ("settings_notice", "Vorlauf für Buchungen (Minuten)", "Booking notice (minutes)"),
    ("settings_horizon", "Buchbar bis (Tage im Voraus)", "Bookable up to (days ahead)"),
    ("settings_step", "Zeitraster (Minuten)", "Slot step (minutes)"),
    ("settings_hours", "Öffnungszeiten", "Opening hours"),
    ("settings_breaks", "Pausen", "Breaks"),
    ("settings_breaks_help", "Eine Zeile je Pause: Tage und Zeit, z. B. „mon tue 12:00-13:00“", "One line per break: days and time, e.g. \"mon tue 12:00-13:00\""),
    ("settings_closures", "Geschlossen", "Closed"),
    ("settings_dates_help", "Eine Zeile je Tag (2026-12-24) oder Zeitraum (2026-12-24..2026-12-31)", "One line per day (2026-12-24) or range (2026-12-24..2026-12-31)"),
    ("settings_services", "Leistungen", "Services"),
    ("settings_names", "Namen (Komma)", "Names (comma)"),
    ("settings_duration", "Dauer (Min.)", "Duration (min)"),
    ("settings_buffer", "Puffer (Min.)", "Buffer (min)"),
    ("settings_price", "Preis", "Price"),
    ("settings_description", "Beschreibung (sagt der Agent)", "Description (the agent says it)"),
    ("settings_currency", "Währung der Preise", "Currency of the prices"),
    ("settings_faq", "Häufige Fragen", "Questions callers ask"),
    ("settings_faq_help", "Was der Agent auf Fragen jenseits von Terminen antwortet (Parken, Zahlung, Anfahrt). `retell-ops sync` gibt sie ihm als Wissensdatenbank.", "What the agent answers beyond appointments (parking, payment, directions). `retell-ops sync` gives them to it as its knowledge base."),
    ("settings_question", "Frage", "Question"),
    ("settings_answer", "Antwort", "Answer"),
    ("settings_new_question", "neue Frage", "new question"),
    ("settings_remove", "Entfernen", "Remove"),
    ("settings_new_id", "neue ID, z. B. keratin", "new id, e.g. keratin"),
    ("settings_staff", "Mitarbeiter", "Staff"),
    ("settings_name", "Name", "Name"),
    ("settings_aliases", "Andere Namen (Komma)", "Other names (comma)"),
    ("settings_all_services", "alle Leistungen", "all services"),
    ("settings_staff_hours_help", "Eigene Arbeitszeiten (alle leer: die Öffnungszeiten)", "Own working hours (all empty: the opening hours)"),
    ("settings_absences", "Abwesend (eine Zeile je Tag oder Zeitraum)", "Absent (one line per day or range)"),
    ("settings_new_person", "Neue Person", "New person"),
    ("settings_log", "Änderungen", "Changes"),
    ("callbacks", "Rückrufe", "Callbacks"),
    ("callbacks_pending", "offen", "pending"),
    ("callbacks_overdue", "überfällig", "overdue"),
    ("callbacks_overdue_one", "Überfällig", "Overdue"),
    ("callbacks_pending_title", "Offene Rückrufe (älteste zuerst)", "Pending callbacks (oldest first)"),
    ("callbacks_done_title", "Zuletzt erledigt", "Recently done"),
    ("callbacks_none", "Keine.", "None."),
    ("callbacks_received", "Eingang", "Received"),
    ("callbacks_due", "Fällig bis", "Due by"),
    ("callbacks_reason", "Anliegen", "Reason"),
    ("callbacks_notes", "Notizen und Aktionen", "Notes and actions"),
    ("callbacks_open", "Offen", "Open"),
    ("callbacks_assigned", "Zugewiesen", "Assigned"),
    ("callbacks_done", "Erledigt", "Done"),
    ("callbacks_follow_up", "Nach einem Anruf zu klären:", "To clear up after a call:"),
    ("callbacks_preferred", "Wunschzeit", "Preferred time"),
    ("callbacks_to_call", "Zum Anruf", "To the call"),
    ("callbacks_assignee", "Zuständig", "Assignee"),
    ("callbacks_assign", "Zuweisen", "Assign"),
    ("callbacks_add_note", "Notiz speichern", "Save note"),
    ("callbacks_mark_done", "Erledigt", "Done"),
    ("callbacks_reopen", "Wieder öffnen", "Reopen"),
    ("callbacks_note_placeholder", "Notiz (optional)", "Note (optional)"),
    ("callbacks_changed", "Der Rückruf wurde inzwischen geändert. Bitte die aktuelle Fassung prüfen und erneut speichern.", "The callback was changed meanwhile. Please check the current version and save again."),
    ("success_rate", "Erfolgsquote", "Success rate"),
    ("sentiment", "Stimmung", "Sentiment"),
    (
        "key_metrics",
        "Kennzahlen und Ziele",
        "Key metrics and targets",
    ),
    ("metric", "Kennzahl", "Metric"),
    ("target", "Ziel", "Target"),
    ("value", "Wert", "Value"),
    ("api_response_time", "API-Antwortzeit", "API response time"),
    (
        "webhook_success",
        "Webhook-Erfolgsquote",
        "Webhook success rate",
    ),
    (
        "call_completion",
        "Abschlussquote der Anrufe",
        "Call completion rate",
    ),
    (
        "agent_response_time",
        "Antwortzeit des Agenten",
        "Agent response time",
    ),
    ("not_available", "nicht verfügbar", "not available"),
    ("system_health", "Systemzustand", "System health"),
    ("dead_letters", "Unzustellbare Ereignisse", "Dead letters"),
    (
        "dead_letters_about",
        "Ereignisse, die nach fünf Versuchen nicht gespeichert werden konnten, mit dem letzten Fehler. Ist die Ursache behoben, erneut zustellen: schon Gespeichertes wird nicht doppelt gezählt.",
        "Events that could not be stored after five attempts, with the last error. Once the cause is fixed, redrive them: what is stored already is not counted twice.",
    ),
    (
        "no_dead_letters",
        "Keine unzustellbaren Ereignisse.",
        "No dead letters.",
    ),
    ("redrive", "Erneut zustellen", "Redrive"),
    ("privacy", "Datenschutz", "Privacy"),
    (
        "privacy_about",
        "Auskunft und Löschung für einen Anrufer dieser Firma (DSGVO Art. 15 und 17) und das Protokoll, wer Gespräche angesehen, Daten exportiert oder gelöscht und Einstellungen geändert hat.",
        "Access and erasure for one caller of this company (GDPR Art. 15 and 17), and the trail of who viewed calls, exported or erased data, and changed settings.",
    ),
    ("caller_data", "Daten eines Anrufers", "A caller's data"),
    ("export_caller", "Alles exportieren (JSON)", "Export everything (JSON)"),
    ("erase_caller", "Endgültig löschen", "Erase for good"),
    ("erase_confirm", "Zur Bestätigung die Firmen-ID", "To confirm, the company id"),
    ("erased", "Gelöscht", "Erased"),
    ("nothing_held", "Zu dieser Nummer ist nichts gespeichert.", "Nothing is held about this number."),
    ("proof_clean", "Geprüft: die Nummer steht nirgends mehr", "Checked: the number is nowhere any more"),
    ("proof_found", "Die Nummer steht noch in", "The number is still in"),
    ("audit_trail", "Protokoll (30 Tage)", "Audit trail (30 days)"),
    ("by", "Von", "By"),
    ("when", "Wann", "When"),
    ("action", "Aktion", "Action"),
    ("subject", "Betrifft", "Subject"),
    ("messages", "Nachrichten", "messages"),
    ("redrive_all", "Alle erneut zustellen", "Redrive all"),
    ("redriven", "Erneut zugestellt", "Redriven"),
    ("redrive_failed", "Fehlgeschlagen", "Failed"),
    ("queue", "Ereignis", "Event"),
    ("since", "Eingegangen", "Received"),
    ("receives", "Empfangen (mal)", "Times received"),
    ("last_error", "Letzter Fehler", "Last error"),
    (
        "last_webhook",
        "Letztes gespeichertes Ereignis",
        "Last event stored",
    ),
    ("reconcile", "Abgleich mit Retell", "Reconcile with Retell"),
    ("day", "Tag", "Day"),
    ("status", "Status", "Status"),
    ("caller", "Anrufer", "Caller"),
    ("direction", "Richtung", "Direction"),
    ("all", "alle", "all"),
    ("filter", "Filtern", "Filter"),
    ("time", "Zeit", "Time"),
    ("duration", "Dauer", "Duration"),
    ("summary", "Zusammenfassung", "Summary"),
    ("next_page", "Weitere Anrufe", "More calls"),
    (
        "no_calls",
        "Keine Anrufe für diese Auswahl.",
        "No calls for this selection.",
    ),
    ("call", "Anruf", "Call"),
    ("analysis", "Auswertung", "Analysis"),
    ("transcript", "Gesprächsverlauf", "Transcript"),
    ("tool_calls", "Werkzeugaufrufe", "Tool calls"),
    ("result", "Ergebnis", "Result"),
    ("appointment", "Gebuchter Termin", "Appointment booked"),
    (
        "no_appointment",
        "Kein Termin gebucht.",
        "No appointment booked.",
    ),
    ("recording", "Aufnahme", "Recording"),
    ("transfers", "Weiterleitung", "Transfer"),
    ("vip_on", "Als VIP markieren", "Mark as VIP"),
    ("vip_off", "VIP-Markierung entfernen", "Remove VIP mark"),
    ("destination", "Ziel", "Destination"),
    (
        "transfer_started",
        "Weiterleitung begonnen",
        "Transfer started",
    ),
    ("transfer_bridged", "Verbunden", "Connected"),
    ("transfer_cancelled", "Nicht verbunden", "Not connected"),
    (
        "transfer_ended",
        "Weitergeleitetes Gespräch beendet",
        "Transferred call ended",
    ),
    ("cost", "Kosten", "Cost"),
    ("latency", "Latenz", "Latency"),
    ("follow_up", "Bitte nachfassen", "Needs follow-up"),
    ("agent", "Agent", "Agent"),
    ("user", "Anrufer", "Caller"),
    ("from", "Von", "From"),
    ("to", "Bis", "To"),
    ("show", "Anzeigen", "Show"),
    ("download_csv", "Als CSV herunterladen", "Download CSV"),
    ("calls_per_day", "Anrufe pro Tag", "Calls per day"),
    ("minutes_per_day", "Minuten pro Tag", "Minutes per day"),
    (
        "calls_per_hour",
        "Anrufe nach Tageszeit",
        "Calls by hour of day",
    ),
    (
        "duration_distribution",
        "Verteilung der Gesprächsdauer",
        "Call duration distribution",
    ),
    ("conversion", "Anrufe mit Buchung", "Calls with a booking"),
    ("cost_per_call", "Kosten pro Anruf", "Cost per call"),
    ("positive", "positiv", "positive"),
    ("neutral", "neutral", "neutral"),
    ("negative", "negativ", "negative"),
    ("unknown", "unbekannt", "unknown"),
    ("prompt", "Prompt", "Prompt"),
    ("begin_message", "Begrüßung", "Begin message"),
    (
        "save_version",
        "Als neue Version speichern",
        "Save as a new version",
    ),
    ("and_publish", "und veröffentlichen", "and publish"),
    ("tools", "Werkzeuge", "Tools"),
    (
        "points_here",
        "zeigt auf diesen Stack",
        "points at this stack",
    ),
    (
        "points_elsewhere",
        "zeigt NICHT auf diesen Stack",
        "does NOT point at this stack",
    ),
    ("webhook", "Webhook", "Webhook"),
    ("version", "Version", "Version"),
    ("published", "veröffentlicht", "published"),
    ("draft", "Entwurf", "draft"),
    ("saved", "Gespeichert.", "Saved."),
    (
        "retell_unavailable",
        "Retell ist gerade nicht erreichbar",
        "Retell cannot be reached right now",
    ),
    ("call_id", "Anruf-ID", "Call ID"),
    ("level", "Stufe", "Level"),
    ("message", "Meldung", "Message"),
    ("function", "Funktion", "Function"),
    ("no_logs", "Keine Protokollzeilen.", "No log lines."),
    ("logs_unread_before", "Nicht durchsucht, die Zeit reichte nicht: Zeilen vor", "Not searched, out of time: lines before"),
    ("all_functions", "alle Funktionen", "all functions"),
    ("min_level", "Stufe ab", "Level from"),
    ("all_levels", "alle Stufen", "all levels"),
    (
        "logs_live",
        "Live: neue Zeilen erscheinen von selbst",
        "Live: new lines appear by themselves",
    ),
    (
        "logs_live_stopped",
        "Live-Aktualisierung angehalten; bitte die Seite neu laden.",
        "Live refresh stopped; please reload the page.",
    ),
    (
        "logs_live_truncated",
        "Mehr neue Zeilen, als gezeigt werden; die Seite neu laden, um alle zu sehen.",
        "More new lines than are shown; reload the page to see them all.",
    ),
    (
        "number_to_call",
        "Nummer, die angerufen wird (E.164)",
        "Number to call (E.164)",
    ),
    ("start_call", "Anruf starten", "Start call"),
    (
        "call_started",
        "Der Anruf wurde gestartet:",
        "The call was started:",
    ),
    (
        "waiting_for_call",
        "Warte auf die Ereignisse des Anrufs …",
        "Waiting for the call's events …",
    ),
    ("not_found", "Nicht gefunden.", "Not found."),
    (
        "forbidden",
        "Dafür fehlt die Berechtigung.",
        "You may not do that.",
    ),
    (
        "bad_request",
        "Die Eingabe ist ungültig:",
        "The input is invalid:",
    ),
    (
        "error",
        "Etwas ist schiefgegangen. Bitte erneut versuchen.",
        "Something went wrong. Please try again.",
    ),
    ("signed_in_as", "Angemeldet als", "Signed in as"),
    ("open", "öffnen", "open"),
    ("booked", "gebucht", "booked"),
    ("yes", "ja", "yes"),
    ("no", "nein", "no"),
    ("successful", "erfolgreich", "successful"),
    ("unsuccessful", "nicht erfolgreich", "unsuccessful"),
    ("service", "Leistung", "Service"),
    ("customer", "Kunde", "Customer"),
    ("date", "Datum", "Date"),
    ("range", "Zeitraum", "Range"),
    ("total", "Summe", "Total"),
    ("reason", "Grund", "Reason"),
    // Agents: creating from the template, the draft, publishing, versions.
    ("agents_new", "Neuer Agent", "New agent"),
    ("agent_name", "Name", "Name"),
    ("agent_language", "Sprache", "Language"),
    ("agent_language_multi", "Mehrsprachig (multi)", "Multilingual (multi)"),
    ("agent_voice", "Stimme", "Voice"),
    (
        "agent_voices_unavailable",
        "Retells Stimmen sind gerade nicht lesbar; nur die bisherige Stimme ist wählbar.",
        "Retell's voices cannot be read right now; only the current voice can be chosen.",
    ),
    ("agent_preview_missing", "keine Hörprobe", "no preview"),
    (
        "agent_tools_help",
        "Die Werkzeuge dieses Projekts, die der Agent aufrufen kann; sie rufen diesen Stack auf. Weiterleiten und Auflegen bleiben, wie sie sind.",
        "This project's tools the agent can call; they call this stack. Transfer and end call stay as they are.",
    ),
    (
        "agent_template_note",
        "Der neue Agent bekommt Prompt, Begrüßung und Einstellungen der Standardvorlage seiner Sprache, seine Webhooks und Werkzeuge zeigen auf diesen Stack, und er kommt in die agent_ids des Unternehmens. Er ist zuerst ein Entwurf: prüfen und veröffentlichen.",
        "The new agent gets the prompt, greeting and settings of its language's default template, its webhooks and tools point at this stack, and it is added to the company's agent_ids. It starts as a draft: review it and publish it.",
    ),
    ("agent_create", "Agent anlegen", "Create agent"),
    ("agent_not_created", "Der Agent wurde nicht angelegt:", "The agent was not created:"),
    (
        "agent_created",
        "Agent angelegt. Er ist ein Entwurf: prüfen und veröffentlichen.",
        "Agent created. It is a draft: review it and publish it.",
    ),
    ("agent_saved", "Entwurf gespeichert.", "Draft saved."),
    ("agent_unchanged", "Nichts geändert.", "Nothing changed."),
    ("agent_published", "Veröffentlicht.", "Published."),
    (
        "agent_restored",
        "In den Entwurf übernommen; prüfen und veröffentlichen.",
        "Restored into the draft; review it and publish it.",
    ),
    (
        "agent_stale",
        "Der Entwurf wurde inzwischen geändert; bitte die Seite neu laden und erneut prüfen.",
        "The draft was changed meanwhile; reload the page and review it again.",
    ),
    (
        "agent_diff",
        "Entwurf gegenüber der veröffentlichten Version",
        "Draft against the published version",
    ),
    (
        "agent_not_published",
        "Noch keine Version veröffentlicht.",
        "No version published yet.",
    ),
    (
        "agent_no_changes",
        "Der Entwurf entspricht der veröffentlichten Version.",
        "The draft is the same as the published version.",
    ),
    ("agent_field", "Feld", "Field"),
    ("agent_publish", "Entwurf veröffentlichen", "Publish the draft"),
    ("agent_edit_draft", "Entwurf bearbeiten", "Edit the draft"),
    (
        "agent_draft_note",
        "Speichern ändert nur den Entwurf; Anrufe bekommen ihn erst, wenn er veröffentlicht ist.",
        "Saving changes the draft only; calls get it once it is published.",
    ),
    ("agent_save_draft", "Entwurf speichern", "Save the draft"),
    (
        "agent_other_engine",
        "Dieser Agent antwortet nicht mit einem Retell-LLM: Prompt, Begrüßung und Werkzeuge werden in Retell geändert.",
        "This agent does not answer with a Retell LLM: its prompt, greeting and tools are changed in Retell.",
    ),
    (
        "agent_read_only",
        "Nur Admins ändern Agenten.",
        "Only admins change agents.",
    ),
    ("agent_versions", "Versionen", "Versions"),
    ("agent_modified", "Geändert", "Modified"),
    ("agent_latest_published", "aktuell", "current"),
    ("agent_restore", "In den Entwurf übernehmen", "Restore into the draft"),
    ("agent_lines_unchanged", "unveränderte Zeilen", "unchanged lines"),
    (
        "agent_diff_too_large",
        "Zu viele geänderte Zeilen für einen Zeilenvergleich:",
        "Too many changed lines to compare line by line:",
    ),
    ("agent_draft_version", "Entwurf", "Draft"),
    ("agent_published_version", "Veröffentlicht", "Published"),
    ("agent_other_settings", "Weitere Einstellungen", "Other settings"),
    ("agent_knowledge_bases", "Wissensdatenbank (häufige Fragen)", "Knowledge base (FAQ)"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_there_once_in_both_languages() {
        let mut keys = std::collections::BTreeSet::new();
        for (key, de, en) in TEXTS {
            assert!(keys.insert(*key), "{key} twice");
            assert!(!de.is_empty() && !en.is_empty(), "{key}");
        }
        assert_eq!(Lang::De.t("calls"), "Anrufe");
        assert_eq!(Lang::En.t("calls"), "Calls");
    }

    /// Every `t("…")` in the pages names a key that is here (a missing one would show the key).
    #[test]
    fn every_key_the_sources_use_is_there() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![dir.clone()];
        let mut missing = Vec::new();
        while let Some(path) = files.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).expect("read src").flatten() {
                    files.push(entry.path());
                }
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for part in text.split(".t(\"").skip(1) {
                let key = part.split('"').next().unwrap_or_default();
                if !key.is_empty() && !TEXTS.iter().any(|(k, _, _)| *k == key) {
                    missing.push(format!("{}: {key}", path.display()));
                }
            }
        }
        assert!(missing.is_empty(), "{missing:?}");
    }
}
