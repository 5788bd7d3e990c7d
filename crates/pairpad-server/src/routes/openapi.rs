//! `GET /api/openapi.json`: the OpenAPI 3 description of the REST API, generated at compile time
//! from the handlers' `#[utoipa::path]` annotations and the DTOs' `ToSchema` derives, so it cannot
//! drift from the code. `GET /api/docs/`: Swagger UI over it.
//!
//! Swagger UI's files are compiled into the binary (`utoipa-swagger-ui`'s `vendored` feature takes
//! them from a crate instead of downloading them at build time), so the page works with no
//! internet on the build machine or in the browser. The online validator badge is switched off:
//! it would send the document's URL to swagger.io.

use std::sync::LazyLock;

use actix_web::{HttpResponse, web};
use pairpad_protocol::ErrorCode;
use utoipa::OpenApi;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::{ApiError, ErrorBody};
use crate::routes::{autocomplete, health, history, rooms, ws};

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// The API description. Paths list the `/api` form; the aliases without the prefix are named in
/// each operation's description rather than listed twice.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Pairpad",
        description = "A real-time pair-programming server. This document covers the REST API. The paths \
            without the `/api` prefix (`POST /rooms`, `GET /rooms/{roomId}`, its `/revisions/{n}`, `/operations` \
            and `/history`, `POST /autocomplete`) are aliases of the same handlers. Real-time editing happens over the WebSocket `GET /ws/{roomId}`, whose \
            messages are specified in docs/PROTOCOL.md in the repository. Every error is a JSON body \
            `{\"error\": \"<snake_case_code>\", \"message\": \"<sentence>\"}` with a 4xx or 5xx status.",
        license(name = "MIT", identifier = "MIT"),
    ),
    paths(
        health::health,
        health::ready,
        crate::observability::metrics,
        rooms::create,
        rooms::get,
        rooms::delete,
        history::revision_text,
        history::operations,
        history::history,
        autocomplete::autocomplete,
        ws::connect,
    ),
    components(schemas(ErrorBody<'_>)),
    modifiers(&BearerScheme),
    tags(
        (name = "rooms", description = "Creating and reading rooms; the WebSocket that edits them."),
        (name = "history", description = "A room's past: the text at any kept revision, its committed \
            operations with their authors, and points for a timeslider."),
        (name = "autocomplete", description = "Code completions."),
        (name = "operations", description = "Health, readiness and metrics for whoever runs the server."),
    )
)]
pub struct ApiDoc;

/// The `bearer` security scheme: an owner token (open mode) or a JWT (token mode).
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "Open mode: a room's owner token, for DELETE. Token mode (`auth.mode = \"token\"`): an HS256 JWT \
                 with the claims `room`, `access` (`view`, `edit`, `admin`), `exp` and optional `name`, on every \
                 request (docs/PROTOCOL.md, \"Access\").",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document, serialised once: it is fixed at compile time, so neither each worker nor each
/// request needs to build it again. `None` only if serialisation failed, which plain data cannot.
static DOCUMENT: LazyLock<Option<String>> = LazyLock::new(|| match ApiDoc::openapi().to_json() {
    Ok(json) => Some(json),
    Err(e) => {
        tracing::error!(error = %e, "cannot serialise the OpenAPI document");
        None
    }
});

/// Registers `GET /api/openapi.json`, `GET /api/docs/…` and a redirect from `/api/docs`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Swagger UI's page loads its assets by relative URLs (`./swagger-ui.css`), so it must be
    // served from a path ending in `/`. It is given only the document's URL, not the document,
    // which is served by `document` below.
    cfg.route(OPENAPI_PATH, web::get().to(document)).route("/api/docs", web::get().to(redirect_to_docs)).service(
        SwaggerUi::new("/api/docs/{_:.*}")
            .config(Config::new([OPENAPI_PATH]).validator_url("none").try_it_out_enabled(true)),
    );
}

async fn document() -> Result<HttpResponse, ApiError> {
    let json =
        DOCUMENT.as_deref().ok_or_else(|| ApiError::new(ErrorCode::Internal, "the API description is unavailable"))?;
    Ok(HttpResponse::Ok().content_type("application/json").body(json))
}

/// A relative `Location` (`docs/` from `/api/docs`), so the redirect also works behind a proxy that
/// serves Pairpad under a path prefix.
async fn redirect_to_docs() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header(("location", "docs/")).finish()
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    use super::ApiDoc;

    #[test]
    fn the_document_serialises_and_names_the_error_schema() {
        let json = ApiDoc::openapi().to_json().expect("the document serialises");
        let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert!(value["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", value["openapi"]);
        assert!(value["components"]["schemas"]["ErrorBody"].is_object());
    }
}
