//! The per-account budgets against guessing: how many wrong passwords and
//! wrong second-factor codes one account takes in a window before further
//! guesses are refused, and for how long. Counted per account, not per
//! client, so that an attacker gains nothing from more addresses.
use chrono::{NaiveDateTime, TimeDelta};
use sha2::{Digest, Sha256};

/// The window guesses are counted in, at first.
pub const GUESS_WINDOW: TimeDelta = TimeDelta::minutes(15);
/// The longest window: each window whose budget was spent makes the next
/// one, if guessing goes on, twice as long, up to this.
pub const MAX_GUESS_WINDOW: TimeDelta = TimeDelta::hours(1);
/// A network from which the account signed up or logged in this recently
/// keeps logging in while its password budget is spent.
pub const KNOWN_NETWORK_FOR: TimeDelta = TimeDelta::days(30);

/// What is being guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GuessKind {
    /// Passwords: at `/login`, and the current password where it is
    /// re-checked.
    Password,
    /// TOTP and recovery codes: at `/login/mfa`, and where a code is
    /// re-checked.
    SecondFactor,
}

impl GuessKind {
    pub const ALL: [GuessKind; 2] = [GuessKind::Password, GuessKind::SecondFactor];

    pub fn as_str(self) -> &'static str {
        match self {
            GuessKind::Password => "password",
            GuessKind::SecondFactor => "second_factor",
        }
    }

    /// Wrong guesses a window takes; the next is refused.
    pub fn limit(self) -> i32 {
        match self {
            GuessKind::Password => 20,
            GuessKind::SecondFactor => 10,
        }
    }
}

/// Whose budget a guess spends: one per account and kind. Passwords are
/// counted by the name typed, so an unknown name has a budget as a real
/// one does (a 429 says nothing about existence); codes by the account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GuessSubject {
    pub kind: GuessKind,
    key: String,
}

impl GuessSubject {
    /// The password budget of the name typed at login: its case-insensitive
    /// key, or for a name no account can have, a digest of it (a bounded
    /// key, whatever was typed).
    pub fn password_of(name: &str) -> Self {
        let key = super::Username::parse(name).map(|name| name.key()).unwrap_or_else(|_| {
            let digest = Sha256::digest(name.to_lowercase().as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("#{hex}")
        });
        Self { kind: GuessKind::Password, key }
    }

    /// The second-factor budget of an account.
    pub fn second_factor_of(user: super::UserId) -> Self {
        Self { kind: GuessKind::SecondFactor, key: user.0.to_string() }
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

/// One subject's count of wrong guesses in its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuessBudget {
    pub window_start: NaiveDateTime,
    pub window: TimeDelta,
    /// Guesses charged in the window and not refunded (those not yet known
    /// right, and the wrong ones).
    pub failures: i32,
}

/// What charging a guess did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    /// The guess may be checked; the budget as it is now.
    Admitted(GuessBudget),
    /// The budget is spent: refused until `retry_after` has passed.
    Throttled { retry_after: TimeDelta },
}

impl GuessBudget {
    /// A budget nothing was charged to.
    pub fn fresh(now: NaiveDateTime) -> Self {
        Self { window_start: now, window: GUESS_WINDOW, failures: 0 }
    }

    fn end(&self) -> NaiveDateTime {
        self.window_start + self.window
    }

    /// How long guesses of `kind` are refused from `now`, if they are.
    pub fn throttled_for(&self, kind: GuessKind, now: NaiveDateTime) -> Option<TimeDelta> {
        (self.failures >= kind.limit() && now < self.end()).then(|| self.end() - now)
    }

    /// Charges one guess at `now`, counted as wrong until [`refund`]ed —
    /// charged before it is checked, so that concurrent guesses cannot all
    /// slip under the limit. A spent budget refuses it, unless `exempt`
    /// (a network the account is known to log in from). A window whose
    /// budget was spent, followed within its own length by more guesses,
    /// gives way to one twice as long.
    ///
    /// [`refund`]: GuessBudget::refund
    pub fn charge(self, kind: GuessKind, now: NaiveDateTime, exempt: bool) -> Charge {
        if now >= self.end() {
            let went_on = self.failures >= kind.limit() && now < self.end() + self.window;
            let window = if went_on { (self.window * 2).min(MAX_GUESS_WINDOW) } else { GUESS_WINDOW };
            return Charge::Admitted(Self { window_start: now, window, failures: 1 });
        }
        match self.throttled_for(kind, now) {
            Some(retry_after) if !exempt => Charge::Throttled { retry_after },
            _ => Charge::Admitted(Self { failures: self.failures.saturating_add(1), ..self }),
        }
    }

    /// Takes back the charge of a guess that was right.
    pub fn refund(self) -> Self {
        Self { failures: (self.failures - 1).max(0), ..self }
    }

    /// Whether the budget can still matter at `now`: a later window may
    /// double only within one window's length of this one's end.
    pub fn matters_at(&self, now: NaiveDateTime) -> bool {
        now < self.end() + self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap().naive_utc() + TimeDelta::minutes(minutes)
    }

    /// Charges `n` wrong guesses at `now`; the budget after them.
    fn wrong(mut budget: GuessBudget, kind: GuessKind, n: i32, now: NaiveDateTime) -> GuessBudget {
        for _ in 0..n {
            match budget.charge(kind, now, false) {
                Charge::Admitted(next) => budget = next,
                Charge::Throttled { .. } => panic!("refused before the limit"),
            }
        }
        budget
    }

    #[test]
    fn the_guess_past_the_limit_is_refused_until_the_window_ends() {
        let kind = GuessKind::SecondFactor;
        let budget = wrong(GuessBudget::fresh(at(0)), kind, 10, at(1));
        let refused_for = |minutes| Charge::Throttled { retry_after: TimeDelta::minutes(minutes) };
        assert_eq!(budget.charge(kind, at(1), false), refused_for(14));
        assert_eq!(budget.charge(kind, at(14), false), refused_for(1));
        assert!(matches!(budget.charge(kind, at(15), false), Charge::Admitted(b) if b.failures == 1));
    }

    #[test]
    fn passwords_get_twenty_and_codes_ten() {
        let budget = wrong(GuessBudget::fresh(at(0)), GuessKind::Password, 20, at(0));
        assert!(matches!(budget.charge(GuessKind::Password, at(0), false), Charge::Throttled { .. }));
        let budget = wrong(GuessBudget::fresh(at(0)), GuessKind::SecondFactor, 9, at(0));
        assert!(matches!(budget.charge(GuessKind::SecondFactor, at(0), false), Charge::Admitted(_)));
    }

    #[test]
    fn windows_double_while_guessing_goes_on_and_reset_after_a_quiet_one() {
        let kind = GuessKind::SecondFactor;
        let first = wrong(GuessBudget::fresh(at(0)), kind, 10, at(0));
        let second = wrong(first, kind, 10, at(15));
        assert_eq!(second.window, TimeDelta::minutes(30));
        assert_eq!(second.throttled_for(kind, at(15)), Some(TimeDelta::minutes(30)));
        let third = wrong(second, kind, 10, at(45));
        assert_eq!(third.window, TimeDelta::hours(1));
        let fourth = wrong(third, kind, 10, at(105));
        assert_eq!(fourth.window, MAX_GUESS_WINDOW, "never past an hour");
        // Quiet for a whole window after the last: back to 15 minutes.
        let later = wrong(fourth, kind, 1, at(105 + 60 + 60));
        assert_eq!(later.window, GUESS_WINDOW);
        // A window that did not spend its budget does not double the next.
        let light = wrong(GuessBudget::fresh(at(0)), kind, 9, at(0));
        assert_eq!(wrong(light, kind, 1, at(16)).window, GUESS_WINDOW);
    }

    #[test]
    fn an_exempt_guess_passes_a_spent_budget_and_still_counts() {
        let kind = GuessKind::Password;
        let budget = wrong(GuessBudget::fresh(at(0)), kind, 20, at(0));
        let Charge::Admitted(after) = budget.charge(kind, at(1), true) else { panic!("exempt") };
        assert_eq!(after.failures, 21);
        assert_eq!(after.refund().failures, 20);
        assert_eq!(GuessBudget::fresh(at(0)).refund().failures, 0, "never below zero");
    }

    #[test]
    fn unknown_and_known_names_are_keyed_alike_and_case_insensitively() {
        assert_eq!(GuessSubject::password_of("Alice"), GuessSubject::password_of("alice"));
        assert_eq!(GuessSubject::password_of("Alice").key(), "alice");
        let odd = GuessSubject::password_of(&"x".repeat(10_000));
        assert_eq!(odd.key().len(), 65, "a bounded key for any input");
        assert_ne!(odd, GuessSubject::password_of(&"x".repeat(10_001)));
    }

    proptest::proptest! {
        /// However guesses are spaced and whichever were right, a window
        /// never holds more wrong ones than its kind's limit, and a refusal
        /// never asks for more than the longest window.
        #[test]
        fn a_window_never_admits_more_wrong_guesses_than_the_limit(
            password in proptest::bool::ANY,
            events in proptest::collection::vec((0i64..1_200, proptest::bool::ANY), 1..300)
        ) {
            let kind = if password { GuessKind::Password } else { GuessKind::SecondFactor };
            let mut now = at(0);
            let mut budget = GuessBudget::fresh(now);
            for (gap_secs, right) in events {
                now += TimeDelta::seconds(gap_secs);
                match budget.charge(kind, now, false) {
                    Charge::Admitted(next) => {
                        proptest::prop_assert!(next.failures <= kind.limit());
                        budget = if right { next.refund() } else { next };
                    }
                    Charge::Throttled { retry_after } => {
                        proptest::prop_assert!(retry_after > TimeDelta::zero() && retry_after <= MAX_GUESS_WINDOW);
                    }
                }
                proptest::prop_assert!(budget.window <= MAX_GUESS_WINDOW);
            }
        }
    }
}
