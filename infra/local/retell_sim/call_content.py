"""What a simulated call contains: the default conversation and its `{{placeholders}}`, word
timings and transcript text, a plausible bill, latency and summary, the silent recording, and
finished calls in bulk for /sim/calls/bulk."""

from __future__ import annotations

import io
import math
import random
import re
import secrets
import wave
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .wire import dumps, new_id


def _silent_wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 4000)  # half a second of silence
    return buf.getvalue()


SILENT_WAV = _silent_wav()


def tone_wav(frequency: float, ms: int = 400, rate: int = 8000) -> bytes:
    """A short sine tone (mono, 16 bit), faded in and out: a voice's preview, audible and small
    (6.4 kB for 400 ms)."""
    frames = rate * ms // 1000
    fade = rate // 50  # 20 ms
    samples = bytearray()
    for i in range(frames):
        envelope = min(1.0, i / fade, (frames - 1 - i) / fade)
        value = int(12000 * envelope * math.sin(2 * math.pi * frequency * i / rate))
        samples += value.to_bytes(2, "little", signed=True)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(samples))
    return buf.getvalue()


def booking_date(today: date | None = None) -> date:
    """A weekday at least 2 days ahead of today in Germany (the demo salons' time zone)."""
    if today is None:
        try:
            today = datetime.now(ZoneInfo("Europe/Berlin")).date()
        except ZoneInfoNotFoundError:
            today = date.today()
    day = today + timedelta(days=2)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def default_script() -> list[dict]:
    """A short German appointment call, with the argument names our tools read
    (functions/check-availability, functions/book-appointment)."""
    day = booking_date()
    return [
        {"agent": "{{begin_message}}"},
        {"user": f"Hallo, ich hätte gern einen Termin für einen Haarschnitt am {day:%d.%m.%Y}."},
        {"tool": "check_availability", "args": {"service_id": "Haarschnitt", "date": day.isoformat()}},
        {"agent": "{{last_message}}"},
        {"user": "Um {{slot}} Uhr passt es mir gut. Mein Name ist Max Mustermann."},
        {"tool": "book_appointment", "args": {"service_id": "Haarschnitt", "date": "{{slot_date}}",
                                              "time": "{{slot}}", "customer_name": "Max Mustermann"}},
        {"agent": "{{last_message}}"},
        {"user": "Super, vielen Dank. Tschüss!"},
        {"agent": "Gern geschehen, bis bald und auf Wiederhören!"},
    ]


def render(value: Any, ctx: dict[str, str]) -> Any:
    """`{{name}}` placeholders from ctx, in strings and (recursively) in args; unknown ones stay."""
    if isinstance(value, str):
        return re.sub(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}", lambda m: str(ctx.get(m.group(1), m.group(0))), value)
    if isinstance(value, dict):
        return {k: render(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, ctx) for v in value]
    return value


def words_for(text: str, start_s: float) -> tuple[list[dict], float]:
    """Word timings for an utterance (~0.32 s a word); returns the words and the end time."""
    words, t = [], start_s
    for w in text.split():
        words.append({"word": w, "start": round(t, 3), "end": round(t + 0.28, 3)})
        t += 0.32
    return words, t


def call_cost(duration_ms: int) -> dict:
    """A plausible Retell bill in cents (unit prices are per second)."""
    seconds = max(duration_ms, 0) / 1000
    products = [("retell_platform", 0.0833), ("elevenlabs_tts", 0.1167), ("gpt_4.1", 0.075),
                ("retell_telephony", 0.025)]
    costs = [{"product": p, "unit_price": u, "cost": round(u * seconds, 4)} for p, u in products]
    return {"product_costs": costs, "combined_cost": round(sum(c["cost"] for c in costs), 4),
            "total_duration_seconds": round(seconds, 3),
            "total_duration_unit_price": round(sum(u for _, u in products), 4)}


def latency_stats(values: list[float]) -> dict:
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(math.ceil(p * len(ordered))) - 1)]
    return {"p50": pct(0.5), "p90": pct(0.9), "p95": pct(0.95), "p99": pct(0.99),
            "min": ordered[0], "max": ordered[-1], "num": len(ordered), "values": values}


def call_latency(turns: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    n = max(turns, 1)
    return {"e2e": latency_stats([round(rng.uniform(800, 1600)) for _ in range(n)]),
            "llm": latency_stats([round(rng.uniform(350, 900)) for _ in range(n)]),
            "tts": latency_stats([round(rng.uniform(150, 350)) for _ in range(n)]),
            "asr": latency_stats([round(rng.uniform(100, 300)) for _ in range(n)])}


def estimate_duration(script: list[dict]) -> int:
    words = sum(len(str(s.get("user") or s.get("agent") or "").split()) for s in script)
    tools = sum(1 for s in script if "tool" in s)
    return int(2000 + words * 320 + len(script) * 700 + tools * 1200)


def summary(call: dict) -> str:
    tools = [e["name"] for e in call.get("transcript_with_tool_calls") or () if e.get("role") == "tool_call_invocation"]
    if "book_appointment" in tools:
        return "Der Anrufer hat einen Termin für einen Haarschnitt angefragt; der Agent hat die Verfügbarkeit " \
               "geprüft und den Termin gebucht."
    return "Der Anrufer hat mit dem Agenten gesprochen" + (f" (Werkzeuge: {', '.join(tools)})." if tools else ".")


def transcript_text(transcript_object: list[dict]) -> str:
    return "".join(f"{'Agent' if u['role'] == 'agent' else 'User'}: {u['content']}\n" for u in transcript_object)


def finished_calls(count: int, agent: dict, from_number: str, to_number: str, direction: str,
                   start: int, spacing: int, base_url: str) -> list[dict]:
    """Finished calls, fast: a few conversation variants built once and shared (stored calls
    are never mutated), per-call ids, times and costs."""
    names = ["Max Mustermann", "Erika Musterfrau", "Jonas Becker", "Lea Schmidt", "Paul Wagner"]
    day = booking_date().isoformat()
    variants = []
    for n, name in enumerate(names):
        slot = f"{9 + n}:30"
        transcript_object, with_tools, clock = [], [], 0.5
        lines = [("agent", "Salon Demo, guten Tag! Wie kann ich Ihnen helfen?"),
                 ("user", "Hallo, ich hätte gern einen Termin für einen Haarschnitt."),
                 ("tool", ("check_availability", {"service_id": "Haarschnitt", "date": day},
                           {"available": True, "date": day, "slots": [slot], "message": f"Um {slot} Uhr ist frei."})),
                 ("agent", f"Um {slot} Uhr wäre noch etwas frei."),
                 ("user", f"Das passt. Mein Name ist {name}."),
                 ("tool", ("book_appointment", {"service_id": "Haarschnitt", "date": day, "time": slot,
                                                "customer_name": name},
                           {"success": True, "appointment_id": f"apt_{secrets.token_hex(8)}", "date": day,
                            "time": slot, "service_id": "haircut", "message": "Ihr Termin ist gebucht."})),
                 ("agent", f"Ihr Termin am {day} um {slot} Uhr ist gebucht. Auf Wiederhören!")]
        for kind, content in lines:
            if kind == "tool":
                tool_name, args, reply = content
                tcid = secrets.token_hex(8)
                with_tools.append({"role": "tool_call_invocation", "tool_call_id": tcid, "name": tool_name,
                                   "arguments": dumps(args), "type": "custom"})
                with_tools.append({"role": "tool_call_result", "tool_call_id": tcid, "content": dumps(reply),
                                   "successful": True})
                continue
            words, clock = words_for(content, clock)
            utterance = {"role": kind, "content": content, "words": words}
            transcript_object.append(utterance)
            with_tools.append(utterance)
        variants.append((transcript_object, with_tools, transcript_text(transcript_object)))
    sentiments = ["Positive", "Positive", "Neutral", "Positive", "Negative", "Neutral", "Unknown"]
    latency = call_latency(4, seed=7)
    usage = {"values": [1800, 2100, 2400], "average": 2100, "num_requests": 3}
    base = {"call_type": "phone_call", "direction": direction, "agent_id": agent["agent_id"],
            "agent_version": agent["version"], "agent_name": agent.get("agent_name"), "call_status": "ended",
            "from_number": from_number, "to_number": to_number, "metadata": {},
            "retell_llm_dynamic_variables": {}, "collected_dynamic_variables": {},
            "data_storage_setting": "everything", "opt_in_signed_url": False, "latency": latency,
            "llm_token_usage": usage}
    calls = []
    for i in range(count):
        call_id = new_id("call_")
        transcript_object, with_tools, text = variants[i % len(variants)]
        duration = 30_000 + (i * 7919) % 90_000
        begin = start + i * spacing
        successful = i % 7 != 4
        calls.append({
            **base, "call_id": call_id, "start_timestamp": begin, "end_timestamp": begin + duration,
            "duration_ms": duration, "disconnection_reason": "user_hangup" if i % 3 else "agent_hangup",
            "transcript": text, "transcript_object": transcript_object, "transcript_with_tool_calls": with_tools,
            "recording_url": f"{base_url}/recordings/{call_id}.wav", "call_cost": call_cost(duration),
            "call_analysis": {"call_summary": "Der Anrufer hat einen Haarschnitt gebucht." if successful
                              else "Der Anrufer hat ohne Termin aufgelegt.",
                              "user_sentiment": sentiments[i % len(sentiments)], "call_successful": successful,
                              "in_voicemail": False,
                              # As the default agents' post_call_analysis_data fills it.
                              "custom_analysis_data": {
                                  "wanted_appointment": successful or i % 5 == 2,
                                  "no_booking_reason": "none" if successful else "caller_undecided",
                                  "lost_at_quote": ""}}})
    return calls
