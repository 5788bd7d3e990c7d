//! `GET /ws/{roomId}[?name=Alice]`: the real-time protocol, served by the hub's session.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::startup::AppState;

#[derive(Deserialize)]
pub struct JoinQuery {
    name: Option<String>,
}

pub async fn connect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<String>,
    query: web::Query<JoinQuery>,
) -> Result<HttpResponse, actix_web::Error> {
    pairpad_hub::session::serve(state.hub.clone(), &req, body, path.into_inner(), query.into_inner().name)
}
