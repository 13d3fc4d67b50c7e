//! `get_service_info([service_id])`: what a service costs, how long it takes and what it is;
//! without a service, the list of what the business offers. From the company's settings only.

use serde_json::{json, Value};
use shared::booking::company::Service;
use shared::tools::{parameters, Args, Reply, Tool, ToolContext, ToolDefinition};

pub struct GetServiceInfo;

/// Services named in one spoken list; the rest are counted ("und 5 weitere").
const MAX_LISTED: usize = 12;

impl Tool for GetServiceInfo {
    const NAME: &'static str = "get_service_info";

    fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: Self::NAME,
            description: "Preis, Dauer und Beschreibung einer Leistung nennen, oder alle Leistungen auflisten. Tell what a service costs, how long it takes and what it is; without service_id, list the services offered. Use it for every price or duration question instead of guessing.",
            parameters: parameters::object(
                [(
                    "service_id",
                    parameters::text(
                        "The service asked about, by id or name ('Färben', 'coloring'); omit to list all services",
                    ),
                )],
                &[],
            ),
        }
    }

    async fn run(&self, ctx: &ToolContext<'_>, args: &Args) -> Result<Reply, Reply> {
        if ctx.text(args, "service_id")?.is_none() {
            return Ok(all_services(ctx));
        }
        let service = ctx.service(args, "service_id")?;
        let (facts, message) = one_service(ctx, service);
        Ok(json!({"success": true, "service": facts, "message": message}))
    }
}

/// "30 Minuten", "1,5 Stunden" / "30 minutes", "2 hours".
fn spoken_duration(ctx: &ToolContext<'_>, minutes: u32) -> String {
    if minutes >= 120 && minutes.is_multiple_of(30) {
        let hours = f64::from(minutes) / 60.0;
        let (de, en) = if minutes.is_multiple_of(60) {
            (hours.to_string(), hours.to_string())
        } else {
            (
                format!("{hours:.1}").replace('.', ","),
                format!("{hours:.1}"),
            )
        };
        ctx.say(format!("{de} Stunden"), format!("{en} hours"))
    } else {
        ctx.say(format!("{minutes} Minuten"), format!("{minutes} minutes"))
    }
}

fn spoken_price(ctx: &ToolContext<'_>, service: &Service) -> Option<String> {
    service
        .price
        .map(|p| p.spoken(ctx.company.currency(), ctx.company.is_german()))
}

fn one_service(ctx: &ToolContext<'_>, service: &Service) -> (Value, String) {
    let name = service.display_name();
    let duration = spoken_duration(ctx, service.duration_minutes);
    let price = spoken_price(ctx, service);
    let mut message = match &price {
        Some(p) => ctx.say(
            format!("{name} dauert etwa {duration} und kostet {p}."),
            format!("{name} takes about {duration} and costs {p}."),
        ),
        None => ctx.say(
            format!("{name} dauert etwa {duration}. Einen Preis dafür habe ich nicht vorliegen; den nennt Ihnen das Team gern."),
            format!("{name} takes about {duration}. I do not have a price for it; the team will gladly tell you."),
        ),
    };
    if let Some(d) = service
        .description
        .as_deref()
        .filter(|d| !d.trim().is_empty())
    {
        message.push(' ');
        message.push_str(d.trim());
    }
    let facts = json!({
        "id": service.id,
        "name": name,
        "duration_minutes": service.duration_minutes,
        "price": service.price.map(|p| p.to_string()),
        "price_spoken": price,
        "currency": ctx.company.currency(),
        "description": service.description,
    });
    (facts, message)
}

fn all_services(ctx: &ToolContext<'_>) -> Reply {
    let services = &ctx.company.settings.services;
    let spoken: Vec<String> = services
        .iter()
        .take(MAX_LISTED)
        .map(|s| {
            let duration = spoken_duration(ctx, s.duration_minutes);
            match spoken_price(ctx, s) {
                Some(p) => format!("{} ({duration}, {p})", s.display_name()),
                None => format!("{} ({duration})", s.display_name()),
            }
        })
        .collect();
    let more = services.len().saturating_sub(MAX_LISTED);
    let tail = if more > 0 {
        ctx.say(format!(" und {more} weitere"), format!(" and {more} more"))
    } else {
        String::new()
    };
    let message = ctx.say(
        format!("Wir bieten an: {}{tail}.", spoken.join(", ")),
        format!("We offer: {}{tail}.", spoken.join(", ")),
    );
    let listed: Vec<Value> = services.iter().map(|s| one_service(ctx, s).0).collect();
    json!({"success": true, "services": listed, "message": message})
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::booking::company::{Company, CompanySettings};
    use shared::booking::price::{Currency, Price};
    use shared::tools::offline;

    fn company(language: &str, currency: Option<Currency>) -> Company {
        let mut settings: CompanySettings =
            serde_json::from_str(include_str!("../../../infra/local/companies/demo.json"))
                .expect("demo.json");
        settings.language = language.into();
        settings.currency = currency;
        settings.services[0].price = Some(Price::Exactly(2500));
        settings.services[1].price = Some(Price::Range {
            from: 4500,
            to: 6050,
        });
        settings.services[1].description = Some("Mit Pflegekur; Strähnen auf Anfrage.".into());
        settings.services[2].price = Some(Price::From(1500));
        settings.services[2].duration_minutes = 150;
        Company::from_settings(settings).expect("valid")
    }

    async fn ask(company: &Company, args: Value) -> Result<Reply, Reply> {
        let now = "2026-12-07T08:00:00Z".parse().unwrap_or_default();
        offline::run(&GetServiceInfo, company, now, args).await
    }

    #[tokio::test]
    async fn prices_ranges_and_durations_as_spoken() {
        let de = company("de", None);
        let en = company("en", Some(Currency::SwissFranc));
        for (c, args, expected) in [
            (&de, json!({"service_id": "Haarschnitt"}), "Haarschnitt dauert etwa 30 Minuten und kostet 25 Euro."),
            (&de, json!({"service_id": "Farbe"}), "Färben dauert etwa 90 Minuten und kostet zwischen 45 und 60,50 Euro. Mit Pflegekur; Strähnen auf Anfrage."),
            (&de, json!({"service_id": "bart"}), "Bartpflege dauert etwa 2,5 Stunden und kostet ab 15 Euro."),
            (&en, json!({"service_id": "haircut"}), "Haarschnitt takes about 30 minutes and costs 25 Swiss francs."),
            (&en, json!({"service_id": "coloring"}), "Färben takes about 90 minutes and costs between 45 and 60.50 Swiss francs. Mit Pflegekur; Strähnen auf Anfrage."),
            (&de, json!({}), "Wir bieten an: Haarschnitt (30 Minuten, 25 Euro), Färben (90 Minuten, zwischen 45 und 60,50 Euro), Bartpflege (2,5 Stunden, ab 15 Euro)."),
            (&de, json!({"service_id": "  "}), "Wir bieten an: Haarschnitt"),
        ] {
            let reply = ask(c, args.clone()).await.expect("answered");
            let message = reply["message"].as_str().unwrap_or_default();
            assert!(message.starts_with(expected), "{args}: {message}");
            assert_eq!(reply["success"], json!(true));
        }
        let reply = ask(&de, json!({"service_id": "Färben"}))
            .await
            .expect("answered");
        assert_eq!(reply["service"]["price"], json!("45-60.50"));
        assert_eq!(reply["service"]["currency"], json!("EUR"));
        assert_eq!(reply["service"]["duration_minutes"], json!(90));
        let all = ask(&de, json!(null)).await.expect("answered");
        assert_eq!(all["services"].as_array().map(Vec::len), Some(3));
    }

    #[tokio::test]
    async fn a_service_without_a_price_is_not_given_one() {
        let mut settings = company("de", None).settings;
        settings.services[0].price = None;
        let c = Company::from_settings(settings).expect("valid");
        let reply = ask(&c, json!({"service_id": "haircut"}))
            .await
            .expect("answered");
        let message = reply["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("Einen Preis dafür habe ich nicht"),
            "{message}"
        );
        assert_eq!(reply["service"]["price"], Value::Null);
    }

    #[tokio::test]
    async fn unknown_services_and_hostile_arguments_are_refused() {
        let de = company("de", None);
        for args in [
            json!({"service_id": "Keratin"}),
            json!({"service_id": {"id": "haircut"}}),
            json!({"service_id": ["haircut"]}),
            json!({"service_id": 7}),
            json!({"service_id": "x".repeat(1_000_000)}),
            json!({"service_id": "haircut\u{0}"}),
            json!({"service_id": "\u{202e}haircut"}),
        ] {
            let refusal = ask(&de, args.clone()).await.expect_err("refused");
            assert_eq!(refusal["success"], json!(false), "{refusal}");
            assert_eq!(refusal["argument"], json!("service_id"));
        }
        let refusal = ask(&de, json!({"service_id": "Keratin"}))
            .await
            .expect_err("refused");
        let message = refusal["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("Keratin") && message.contains("Haarschnitt, Färben, Bartpflege"),
            "{message}"
        );
    }
}
