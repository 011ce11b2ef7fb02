//! The portfolio page's bundle: `/b/<id>` only (see `mxtls_web::portfolio`).

fn main() {
    mxtls_web::portfolio::start();
}
