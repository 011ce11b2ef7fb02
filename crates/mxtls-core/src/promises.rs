//! The report's promises: what a hurried domain owner may take for granted when reading any
//! view of a report (the page, the widget, the badge, the terminal, `--nagios`, the JSON).
//! [`check`] lists every promise a report breaks; the core's property tests run it on
//! generated evidence and the CLI's world test on every scenario, so that a contradiction is
//! a failing test, not a confused reader.
//!
//! A promise is stated on the `Report` and on `present`'s words, never on how the analysis
//! reached them: any future rule that contradicts the rest of the report breaks one.

use crate::findings::Severity;
use crate::present::{self, Mood, PluginState};
use crate::report::{Attack, Delivery, Protection, Report, Sender, Status};

/// A promise of the report (ARCHITECTURE.md, "The report's promises").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promise {
    /// The headline's mood is never better than the worst finding shown: an error makes it
    /// bad, a warning keeps it from good (a report that could not test anything stays grey).
    MoodCoversFindings,
    /// "Do this first" is there whenever the mood is not good, and it starts with the worst
    /// severity shown.
    FirstWhenNotBest,
    /// The stripping line, `downgrade_protection`, `strippable` and the sender table say the
    /// same thing about an attacker who strips STARTTLS.
    StrippingAgrees,
    /// A sender row has an attack outcome only where the attack changes what happens (a
    /// bounce, or a deferral the attack cannot turn into delivery, has none).
    AttackOnlyWhereItChanges,
    /// Each kind of sender is one row, and each named vendor appears in one row only.
    SendersOnce,
    /// A fix's copy block holds every kind of record its text tells the owner to publish.
    FixHoldsItsRecords,
    /// The widget, badge, CLI and `--nagios` derive from the same status and mood.
    ViewsAgree,
}

/// A broken promise and what shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub promise: Promise,
    pub detail: String,
}

/// Every promise `report` breaks; empty for a report that never contradicts itself.
pub fn check(report: &Report) -> Vec<Broken> {
    let mut broken = Vec::new();
    let mut fail = |promise, detail: String| broken.push(Broken { promise, detail });
    let mood = present::report_mood(report);
    let worst = report.findings.iter().map(|f| f.severity).min();

    // The headline's mood covers the findings, and so do its words: the status (which the
    // headline words, the badge names) is bad under an error, and a good one names the
    // warning below it.
    let status = present::status_mood(report.summary.status);
    match worst {
        Some(Severity::Error) if status != Mood::Bad => fail(
            Promise::MoodCoversFindings,
            format!(
                "an error is shown under the status {:?}",
                report.summary.status
            ),
        ),
        Some(Severity::Warning)
            if status == Mood::Good && !report.summary.headline.contains("Needs attention") =>
        {
            fail(
                Promise::MoodCoversFindings,
                "a warning is shown under a good headline that does not name it".into(),
            )
        }
        _ => {}
    }
    match worst {
        Some(Severity::Error) if mood != Mood::Bad => fail(
            Promise::MoodCoversFindings,
            format!("an error is shown under a {} headline", mood.id()),
        ),
        Some(Severity::Warning) if matches!(mood, Mood::Good | Mood::Info) => fail(
            Promise::MoodCoversFindings,
            format!("a warning is shown under a {} headline", mood.id()),
        ),
        _ => {}
    }

    // "Do this first".
    if !matches!(mood, Mood::Good | Mood::Info)
        && report.summary.status != Status::NoMail
        && report.first.is_empty()
    {
        fail(
            Promise::FirstWhenNotBest,
            format!("a {} headline without \"do this first\"", mood.id()),
        );
    }
    if let (Some(first), Some(worst)) = (report.first.first(), worst) {
        let severity = report.groups.get(*first).map(|g| g.severity);
        if severity != Some(worst) && report.summary.status != Status::NotTested {
            fail(
                Promise::FirstWhenNotBest,
                format!("\"do this first\" starts with a {severity:?} while a {worst:?} is shown"),
            );
        }
    }
    for g in &report.first {
        let fix = report
            .groups
            .get(*g)
            .and_then(|g| present::group_fix(report, g));
        if fix.is_none() {
            fail(
                Promise::FirstWhenNotBest,
                format!("\"do this first\" #{g} has no fix"),
            );
        }
    }

    stripping(report, &mut fail);
    attacks(report, &mut fail);
    senders_once(report, &mut fail);
    fixes(report, &mut fail);
    views(report, mood, &mut fail);
    broken
}

fn row(report: &Report, s: Sender) -> Option<&crate::report::SenderOutcome> {
    report.senders.iter().find(|r| r.sender == s)
}

/// The stripping line, the JSON's `downgrade_protection` and `strippable`, and the rows.
fn stripping(report: &Report, fail: &mut impl FnMut(Promise, String)) {
    let p = report.downgrade_protection;
    let line = present::stripping_line(report);
    if report.summary.accepts_no_mail {
        if line.is_some() {
            fail(
                Promise::StrippingAgrees,
                "a stripping line for a domain that accepts no mail".into(),
            );
        }
        return;
    }
    let Some(line) = line else {
        fail(Promise::StrippingAgrees, "no stripping line".into());
        return;
    };
    let unknown = p == Protection::Unknown;
    if unknown != line.text.contains("not known") {
        fail(
            Promise::StrippingAgrees,
            format!(
                "downgrade_protection {} but the line says {:?}",
                p.id(),
                line.text
            ),
        );
    }
    if (report.summary.status == Status::NotTested) != unknown {
        fail(
            Promise::StrippingAgrees,
            format!(
                "downgrade_protection {} for a report whose status is {:?}",
                p.id(),
                report.summary.status
            ),
        );
    }
    if report.summary.strippable != (p == Protection::None) {
        fail(
            Promise::StrippingAgrees,
            format!(
                "strippable {} with downgrade_protection {}",
                report.summary.strippable,
                p.id()
            ),
        );
    }
    // Each protection claimed is the row of its senders: delivered over TLS, attack blocked.
    let claims = [
        (
            Sender::Dane,
            matches!(p, Protection::Dane | Protection::Both),
        ),
        (
            Sender::MtaSts,
            matches!(p, Protection::MtaSts | Protection::Both),
        ),
    ];
    for (sender, claimed) in claims {
        let Some(r) = row(report, sender) else {
            continue;
        };
        let holds = r.attack == Attack::Blocked
            && matches!(r.delivery, Delivery::Authenticated | Delivery::Encrypted);
        if claimed && !holds {
            fail(
                Promise::StrippingAgrees,
                format!(
                    "protection {} claimed, but {} senders: {} / attack {}",
                    p.id(),
                    sender.id(),
                    r.delivery.id(),
                    r.attack.id()
                ),
            );
        }
        if !claimed && holds && !unknown && p != Protection::None {
            // A protection that holds for these senders but is not named (the other one is).
            fail(
                Promise::StrippingAgrees,
                format!(
                    "{} senders are protected, but downgrade_protection is {}",
                    sender.id(),
                    p.id()
                ),
            );
        }
    }
    // A green "protected" headline or line is never above a row where the attack works for
    // the protected senders, and the headline does not promise more than the line.
    if line.mood == Mood::Good && p == Protection::None {
        fail(
            Promise::StrippingAgrees,
            "a good stripping line without protection".into(),
        );
    }
}

/// Attack outcomes only where the attack changes what happens.
fn attacks(report: &Report, fail: &mut impl FnMut(Promise, String)) {
    for r in &report.senders {
        let expected_none = match r.delivery {
            Delivery::Bounced => true,
            Delivery::Unknown => r.attack != Attack::NotKnown,
            Delivery::Deferred => !matches!(r.attack, Attack::Works | Attack::None),
            _ => r.attack == Attack::None,
        };
        if expected_none && r.attack != Attack::None {
            fail(
                Promise::AttackOnlyWhereItChanges,
                format!(
                    "{} senders: {} with attack outcome {}",
                    r.sender.id(),
                    r.delivery.id(),
                    r.attack.id()
                ),
            );
        }
        if r.stripping_succeeds != (r.attack == Attack::Works) {
            fail(
                Promise::AttackOnlyWhereItChanges,
                format!(
                    "{} senders: stripping_succeeds {} but attack {}",
                    r.sender.id(),
                    r.stripping_succeeds,
                    r.attack.id()
                ),
            );
        }
        let words = present::stripping_outcome(r);
        if (r.attack == Attack::None) != words.is_none() {
            fail(
                Promise::AttackOnlyWhereItChanges,
                format!(
                    "{} senders: attack {} worded {words:?}",
                    r.sender.id(),
                    r.attack.id()
                ),
            );
        }
    }
}

/// One row per kind of sender, one row per vendor.
fn senders_once(report: &Report, fail: &mut impl FnMut(Promise, String)) {
    for s in Sender::ALL {
        let n = report.senders.iter().filter(|r| r.sender == s).count();
        let expected = usize::from(!report.senders.is_empty());
        if n != expected {
            fail(
                Promise::SendersOnce,
                format!("{} senders in {n} rows", s.id()),
            );
        }
    }
    for vendor in present::VENDORS {
        let rows: Vec<&str> = report
            .senders
            .iter()
            .filter(|r| present::sender(r.sender).contains(vendor))
            .map(|r| r.sender.id())
            .collect();
        if rows.len() > 1 {
            fail(
                Promise::SendersOnce,
                format!("{vendor} is named in the rows {}", rows.join(", ")),
            );
        }
    }
}

/// Every kind of record a fix's text names is in its copy block.
fn fixes(report: &Report, fail: &mut impl FnMut(Promise, String)) {
    for g in &report.groups {
        let Some(fix) = present::group_fix(report, g) else {
            continue;
        };
        for params in ["3 1 1", "2 1 1", "3 0 1", "2 0 1"] {
            let named = fix.text.contains(&format!("{params} record"));
            let held = fix
                .records
                .iter()
                .any(|r| r.contains(&format!(" TLSA {params} ")));
            if named && !held {
                fail(
                    Promise::FixHoldsItsRecords,
                    format!(
                        "{}: the fix names a {params} record that its block does not hold",
                        g.code
                    ),
                );
            }
        }
        let tls_reports = fix.text.to_lowercase().contains("tls report");
        if tls_reports && !has_tls_rpt(report) && !fix.text.contains("TLS-RPT record") {
            fail(
                Promise::FixHoldsItsRecords,
                format!(
                    "{}: the fix waits for TLS reports, but no TLS-RPT record asks for them",
                    g.code
                ),
            );
        }
    }
}

fn has_tls_rpt(report: &Report) -> bool {
    report
        .findings
        .iter()
        .any(|f| f.code == crate::findings::Code::TlsRptOk)
}

/// The widget, the badge, the terminal and the plugin agree.
fn views(report: &Report, mood: Mood, fail: &mut impl FnMut(Promise, String)) {
    let badge = present::badge(Some(report));
    if badge.mood != mood {
        fail(
            Promise::ViewsAgree,
            format!(
                "badge {} in {}, headline {}",
                badge.text,
                badge.mood.id(),
                mood.id()
            ),
        );
    }
    let text = crate::render::text(report, false);
    if !text.contains(&report.summary.headline) {
        fail(
            Promise::ViewsAgree,
            "the terminal lacks the headline".into(),
        );
    }
    let state = present::plugin_state(report);
    let expected = match (report.summary.status, mood) {
        (Status::NotTested, _) => PluginState::Unknown,
        (_, Mood::Bad) => PluginState::Critical,
        (_, Mood::Warn) => PluginState::Warning,
        (_, Mood::Unknown) if report.summary.status != Status::NoMail => PluginState::Unknown,
        _ => PluginState::Ok,
    };
    if state != expected {
        fail(
            Promise::ViewsAgree,
            format!("--nagios {} under a {} headline", state.label(), mood.id()),
        );
    }
}
