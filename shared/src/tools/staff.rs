//! The `staff` argument (the person a caller asks for) and how replies name people.

use serde_json::Value;

use super::{Args, ToolContext};
use crate::booking::company::Service;
use crate::booking::staff::{StaffMatch, StaffMember};

impl<'a> ToolContext<'a> {
    /// The person the caller asks for, who performs `service`. Absent or "egal": `None`
    /// (whoever is free). A name that matches nobody, several people, or someone who does not
    /// perform the service is a refusal naming who does: never a silent switch to someone else.
    pub fn staff(
        &self,
        args: &Args,
        name: &str,
        service: &Service,
    ) -> Result<Option<&'a StaffMember>, Value> {
        let Some(raw) = self.text(args, name)? else {
            return Ok(None);
        };
        let team = &self.company.team;
        if !team.is_staffed() {
            return Err(self.refuse_argument(
                name,
                "Bei uns bucht man keine bestimmte Person; ich suche einfach den nächsten freien Termin.",
                "We do not book a particular person here; I will simply look for the next free time.",
            ));
        }
        let who = self.names(team.qualified(&service.id).map(|m| m.id.as_str()));
        let what = service.display_name();
        match team.find(raw) {
            StaffMatch::Anyone => Ok(None),
            StaffMatch::One(person) if person.performs(&service.id) => Ok(Some(person)),
            StaffMatch::One(person) => Err(self.refuse_argument(
                name,
                format!(
                    "{} macht leider kein {what}. {what} machen bei uns {who}.",
                    person.name
                ),
                format!(
                    "{} does not do {what}. {what} is done by {who}.",
                    person.name
                ),
            )),
            StaffMatch::Several(people) => {
                let several = self.names(people.iter().map(|m| m.id.as_str()));
                Err(self.refuse_argument(
                    name,
                    format!("Mit „{raw}“ kann ich {several} meinen. Wen genau möchten Sie?"),
                    format!("\"{raw}\" could be {several}. Whom exactly would you like?"),
                ))
            }
            StaffMatch::Nobody => {
                tracing::info!(argument = name, "staff name matches nobody");
                Err(self.refuse_argument(
                    name,
                    format!("„{raw}“ kenne ich bei uns nicht. {what} machen bei uns {who}. Zu wem möchten Sie, oder ist es egal?"),
                    format!("I do not know \"{raw}\" here. {what} is done by {who}. Whom would you like, or does it not matter?"),
                ))
            }
        }
    }

    /// The display name of staff member `id`; `None` for the implicit member of a company
    /// without staff (replies then name nobody).
    pub fn staff_name(&self, id: &str) -> Option<&'a str> {
        let team = &self.company.team;
        if !team.is_staffed() {
            return None;
        }
        Some(team.member_or_default(Some(id)).name.as_str())
    }

    /// "Anna, Ben und Clara" (or "… and …"), the display names of `ids`.
    pub fn names<'i>(&self, ids: impl Iterator<Item = &'i str>) -> String {
        let names: Vec<&str> = ids.filter_map(|id| self.staff_name(id)).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => {
                format!("{} {} {last}", rest.join(", "), self.say("und", "and"))
            }
            Some((last, _)) => (*last).to_owned(),
            None => String::new(),
        }
    }
}
