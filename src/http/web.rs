//! The static web UI: embedded in the binary at build time, or read from `--web-dir`.

use std::path::{Component, Path};

use hyper::header;

use super::{
    body::{full, Response},
    error::ApiError,
    AppState,
};

static ASSETS: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// Whether a URL path belongs to the UI (pages and `/static/...`).
pub fn is_page(path: &str) -> bool {
    matches!(path, "/" | "/admin" | "/favicon.ico") || path.starts_with("/static/")
}

/// Maps a URL path to a file under `web/`, refusing anything that could leave the folder.
fn file_for(path: &str) -> Option<String> {
    let rel = match path {
        "/" => "index.html".to_string(),
        "/admin" => "admin.html".to_string(),
        "/favicon.ico" => "static/logo.svg".to_string(),
        p => p.strip_prefix('/')?.to_string(),
    };
    let safe = Path::new(&rel).components().all(|c| matches!(c, Component::Normal(_)))
        && !rel.contains('\\')
        && !rel.split('/').any(|s| s.is_empty() || s.starts_with('.'));
    safe.then_some(rel)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "webmanifest" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

pub async fn serve(state: &AppState, path: &str) -> Result<Response, ApiError> {
    let rel = file_for(path).ok_or_else(ApiError::not_found)?;
    let bytes: Vec<u8> = match &state.http.web_dir {
        Some(dir) => match tokio::fs::read(dir.join(&rel)).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ApiError::not_found()),
            Err(e) => {
                tracing::warn!(error = %e, file = %rel, "cannot read a web file");
                return Err(ApiError::not_found());
            }
        },
        None => ASSETS
            .iter()
            .find(|(name, _)| *name == rel)
            .map(|(_, b)| b.to_vec())
            .ok_or_else(ApiError::not_found)?,
    };
    let mut resp = hyper::Response::new(full(bytes));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type(&rel)));
    // Pages and assets change with the binary; revalidate instead of serving a stale UI.
    h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::file_for;

    #[test]
    fn maps_pages_and_refuses_escapes() {
        assert_eq!(file_for("/").as_deref(), Some("index.html"));
        assert_eq!(file_for("/admin").as_deref(), Some("admin.html"));
        assert_eq!(file_for("/static/app.js").as_deref(), Some("static/app.js"));
        assert_eq!(file_for("/static/../Cargo.toml"), None);
        assert_eq!(file_for("/static/.hidden"), None);
        assert_eq!(file_for("/static//etc/passwd"), None);
    }
}
