//! Issue 27: a portfolio's JSON as the portfolio page reads it from the server
//! (`GET /api/batches/{id}/portfolio`), and everything the page derives from it.

use mxtls_core::batch::portfolio::{self, Answer, Filter};

/// Parses an answer and draws what the page draws: shares of every run, the causes, the
/// changes, every row's CSV line and the filters of the first cause and state.
pub fn portfolio_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(answer) = mxtls_core::api::from_json::<Answer>(text) else {
        return;
    };
    for run in &answer.runs {
        let shares = portfolio::shares(run);
        assert!(shares.iter().all(|s| s.percent.is_finite()));
    }
    let causes = portfolio::causes(&answer.rows);
    for c in &causes {
        let _ = c.line();
    }
    if let Some(previous) = &answer.previous {
        let _ = portfolio::changes(&previous.rows, &answer.rows, answer.batch.complete());
    }
    let filter = Filter {
        state: answer.rows.first().map(|r| r.status.clone()),
        cause: causes.first().map(|c| c.key()),
        text: answer
            .rows
            .first()
            .map(|r| r.domain.chars().take(3).collect())
            .unwrap_or_default(),
    };
    for row in &answer.rows {
        let _ = mxtls_core::batch::csv(row);
        let _ = filter.matches(row);
        let _ = portfolio::state_words(&row.status);
    }
}
