//! The business side of a call: companies and their settings, phone numbers, free slots, and
//! dates and times as callers say them and as the agent speaks them back.

pub mod availability;
pub mod calcom_settings;
pub mod company;
pub mod directory;
pub mod faq;
pub mod messaging_settings;
pub mod opening_hours;
pub mod person;
pub mod phone;
pub mod price;
pub mod privacy_settings;
pub mod routing;
pub mod slots;
pub mod spoken;
pub mod staff;
