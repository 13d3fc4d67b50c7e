//! Retell's voices for the agent forms (`list-voices`: the account's, its own clones included)
//! and where their previews may play from. The page plays a voice's `preview_audio_url` in an
//! `<audio>` element, so the Content-Security-Policy's `media-src` must allow its host; it allows
//! Retell's preview storage ([`PREVIEW_HOSTS`]) and the recording hosts (locally the simulator,
//! which serves previews from its own origin), nothing else: a preview elsewhere is not played.

use shared::platform::outbound::OutboundPolicy;
use shared::retell::api::{RetellApiError, RetellClient, Voice};

/// Where Retell keeps its voices' previews (https only).
pub const PREVIEW_HOSTS: &str = "retell-utils-public.s3.us-west-2.amazonaws.com";

/// The preview hosts as a policy (for the CSP's `media-src` and to check each preview URL).
pub fn preview_policy() -> OutboundPolicy {
    // A constant that parses; the empty policy (nothing played) if it ever did not.
    OutboundPolicy::parse(PREVIEW_HOSTS).unwrap_or_default()
}

/// The voices, sorted for choosing: by provider, then name.
pub async fn list(retell: &RetellClient) -> Result<Vec<Voice>, RetellApiError> {
    let mut voices = retell.list_voices().await?;
    voices.sort_by(|a, b| {
        (a.provider.as_deref(), a.voice_name.as_deref(), &a.voice_id).cmp(&(
            b.provider.as_deref(),
            b.voice_name.as_deref(),
            &b.voice_id,
        ))
    });
    Ok(voices)
}

/// The voice's preview URL if the page may play it: one of Retell's preview hosts or a recording
/// host (the CSP allows exactly those).
pub fn playable_preview<'a>(voice: &'a Voice, recording_hosts: &OutboundPolicy) -> Option<&'a str> {
    let raw = voice.preview_audio_url.as_deref()?;
    let url = reqwest::Url::parse(raw).ok()?;
    (preview_policy().allows(&url) || recording_hosts.allows(&url)).then_some(raw)
}

/// A voice as one line: name, provider, accent, gender.
pub fn label(voice: &Voice) -> String {
    let mut parts = vec![voice
        .voice_name
        .clone()
        .unwrap_or_else(|| voice.voice_id.clone())];
    parts.extend(
        [&voice.provider, &voice.accent, &voice.gender]
            .into_iter()
            .flatten()
            .cloned(),
    );
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice(url: Option<&str>) -> Voice {
        serde_json::from_value(serde_json::json!({
            "voice_id": "11labs-Anna", "voice_name": "Anna", "provider": "elevenlabs",
            "accent": "German", "gender": "female", "preview_audio_url": url
        }))
        .expect("voice")
    }

    #[test]
    fn only_previews_the_csp_allows_are_played() {
        let local = OutboundPolicy::parse("http://127.0.0.1:8123").expect("policy");
        let retell = "https://retell-utils-public.s3.us-west-2.amazonaws.com/anna.mp3";
        assert_eq!(playable_preview(&voice(Some(retell)), &local), Some(retell));
        let sim = "http://127.0.0.1:8123/voice-previews/11labs-Anna.wav";
        assert_eq!(playable_preview(&voice(Some(sim)), &local), Some(sim));
        for elsewhere in [
            "http://retell-utils-public.s3.us-west-2.amazonaws.com/anna.mp3",
            "https://evil.example/anna.mp3",
            "http://127.0.0.1:9999/voice-previews/x.wav",
            "javascript:alert(1)",
            "not a url",
        ] {
            assert_eq!(
                playable_preview(&voice(Some(elsewhere)), &local),
                None,
                "{elsewhere}"
            );
        }
        assert_eq!(playable_preview(&voice(None), &local), None);
        assert_eq!(
            preview_policy().csp_sources(),
            ["https://retell-utils-public.s3.us-west-2.amazonaws.com"]
        );
        assert_eq!(label(&voice(None)), "Anna · elevenlabs · German · female");
    }
}
