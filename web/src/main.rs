//! The checker's bundle: every page but `/tls-rpt`.

fn main() {
    mxtls_web::start();
}
