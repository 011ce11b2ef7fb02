//! The history page's bundle: `/d/<domain>` only (see `mxtls_web::history`).

fn main() {
    mxtls_web::history::start();
}
