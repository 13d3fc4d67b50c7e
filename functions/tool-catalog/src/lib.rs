//! This project's tools, in one list: what `retell-ops` writes into agent files and syncs, and
//! what the control center checks agents against. A new tool is added here once (see
//! docs/custom-functions.md, "Adding a function").

use shared::tools::{Tool, ToolDefinition};

/// The definitions of every tool this project serves, in the order agents list them.
pub fn definitions() -> Vec<ToolDefinition> {
    vec![
        check_availability::CheckAvailability.definition(),
        book_appointment::BookAppointment.definition(),
        get_customer_info::GetCustomerInfo.definition(),
        get_service_info::GetServiceInfo.definition(),
        get_opening_hours::GetOpeningHours.definition(),
        cancel_appointment::CancelAppointment.definition(),
        reschedule_appointment::RescheduleAppointment.definition(),
        request_callback::RequestCallback::tool_definition(),
        send_verification_code::SendVerificationCode::tool_definition(),
        verify_code::VerifyCode::tool_definition(),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_unique() {
        let defs = super::definitions();
        let mut names: Vec<_> = defs.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), defs.len());
    }
}
