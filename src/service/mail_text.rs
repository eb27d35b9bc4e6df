//! The mails' words, compiled in: plain text and HTML of one content.
use chrono::NaiveDateTime;

use crate::domain::LinkPurpose;

/// What a mail says.
pub struct Text<'a> {
    pub purpose: LinkPurpose,
    pub link: &'a str,
    pub expires_at: NaiveDateTime,
    /// Who asked, coarsely (as the session list shows it).
    pub network: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

impl Text<'_> {
    fn lines(&self) -> (&'static str, &'static str, String, String) {
        let (what, ignore) = match self.purpose {
            LinkPurpose::VerifyEmail => (
                "Someone asked to use this address for their account. To confirm it is yours, open this link:",
                "If this was not you, ignore this mail: the address is not used until the link is opened.",
            ),
            LinkPurpose::ResetPassword => (
                "Someone asked to reset the password of the account that uses this address. To choose a new \
                 password, open this link:",
                "If this was not you, ignore this mail: your password stays as it is.",
            ),
        };
        let expires = format!("The link works once, until {} UTC.", self.expires_at.format("%Y-%m-%d %H:%M"));
        let asked = format!(
            "Asked from {} with {}.",
            self.network.unwrap_or("an unknown network"),
            self.user_agent.unwrap_or("an unknown client")
        );
        (what, ignore, expires, asked)
    }

    pub fn plain(&self) -> String {
        let (what, ignore, expires, asked) = self.lines();
        format!("{what}\n\n{}\n\n{expires}\n{asked}\n\n{ignore}\n", self.link)
    }

    pub fn html(&self) -> String {
        let (what, ignore, expires, asked) = self.lines();
        let link = escape(self.link);
        format!(
            "<!doctype html><html><body><p>{}</p><p><a href=\"{link}\">{link}</a></p><p>{}<br>{}</p><p>{}</p></body></html>",
            escape(what),
            escape(&expires),
            escape(&asked),
            escape(ignore)
        )
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_parts_carry_the_link_the_expiry_and_who_asked_and_html_is_escaped() {
        let text = Text {
            purpose: LinkPurpose::ResetPassword,
            link: "https://app.example.com/auth?action=reset-password&token=abc",
            expires_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap().naive_utc(),
            network: Some("203.0.113.0/24"),
            user_agent: Some("Firefox on Linux <script>"),
        };
        let plain = text.plain();
        assert!(plain.contains("https://app.example.com/auth?action=reset-password&token=abc"));
        assert!(plain.contains("until 2027-01-15 08:00 UTC") && plain.contains("203.0.113.0/24"));
        let html = text.html();
        assert!(html.contains("href=\"https://app.example.com/auth?action=reset-password&amp;token=abc\""));
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
    }
}
