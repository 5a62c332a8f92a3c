//! Prints the management API's OpenAPI document (the committed copy is
//! `functions/api/openapi.json`).

fn main() {
    println!("{}", api::openapi::document());
}
