//! What a watch is told changed (`mxtls_core::analysis::diff`): two evidence files, each
//! judged, then compared both ways and with itself.

use mxtls_core::Evidence;
use mxtls_core::analysis::diff;

/// Two evidence JSON documents separated by a 0xff byte (a byte UTF-8 never contains). A
/// report compared with itself has changed in nothing.
pub fn report_diff(data: &[u8]) {
    let mut parts = data.splitn(2, |b| *b == 0xff);
    let (Some(before), Some(after)) = (parts.next(), parts.next()) else {
        return;
    };
    let (Some(before), Some(after)) = (judged(before), judged(after)) else {
        return;
    };
    let _ = diff(Some(&before), &after);
    let _ = diff(Some(&after), &before);
    let _ = diff(None, &after);
    let same = diff(Some(&after), &after);
    assert!(same.is_empty(), "a report differs from itself: {same:?}");
}

fn judged(json: &[u8]) -> Option<mxtls_core::Report> {
    let evidence = Evidence::from_json(std::str::from_utf8(json).ok()?).ok()?;
    Some(mxtls_core::analyse(&evidence, evidence.probe.finished_at))
}
