//! The report reader's bundle: `/tls-rpt` only (see `mxtls_web::tls_rpt`).

fn main() {
    mxtls_web::tls_rpt::start();
}
