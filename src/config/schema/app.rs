//! The app's own fields at the top level of kilter.yaml: `dev`, `image`, `health`, `sync`
//! (`port` and `env` are read as everywhere else).

use super::model::{At, DevCommand};
use super::walk::Walker;
use crate::config::span::{Node, Scalar};
use crate::error::Exit;

impl Walker<'_> {
    /// `dev:` — a command line (run by `sh -c`) or a non-empty list of arguments.
    pub(super) fn dev(&self, value: &Node) -> Result<Option<At<DevCommand>>, Exit> {
        let node = self.tree.deref(value);
        let at = value.pos;
        let expected = "a command line (e.g. `npm run dev`) or a list of arguments";
        if let Some(items) = node.items() {
            let mut argv = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match self.tree.deref(item).scalar() {
                    Some(Scalar::Str(s)) => argv.push(s.to_owned()),
                    Some(Scalar::Number(_) | Scalar::Bool(_)) => {
                        argv.push(self.tree.deref(item).text().unwrap_or_default().to_owned());
                    }
                    _ => return Err(self.type_error(&format!("dev[{i}]"), item, "a string")),
                }
            }
            if argv.is_empty() {
                return Err(self
                    .error(value, "dev: the list of arguments is empty")
                    .hint("remove the `dev` line to use the detected command"));
            }
            return Ok(Some(At { value: DevCommand::Argv(argv), at }));
        }
        match node.scalar() {
            Some(Scalar::Str(_) | Scalar::Null) => {
                Ok(self.string("dev", value)?.map(|s| At { value: DevCommand::Shell(s), at }))
            }
            _ => Err(self.type_error("dev", value, expected)),
        }
    }

    /// `image:` — an image reference: one word (it becomes the Dockerfile's `FROM`).
    pub(super) fn image(&self, value: &Node) -> Result<Option<At<String>>, Exit> {
        let Some(image) = self.string("image", value)? else { return Ok(None) };
        if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(self
                .error(value, format_args!("image: {image:?} is not an image reference (it contains spaces or line breaks)"))
                .hint("e.g. `image: node:22-alpine`"));
        }
        Ok(Some(At { value: image, at: value.pos }))
    }

    /// `health:` — an HTTP path: starts with `/`, no spaces or control characters.
    pub(super) fn health(&self, value: &Node) -> Result<Option<At<String>>, Exit> {
        let node = self.tree.deref(value);
        if node.scalar().is_none() {
            return Err(self
                .type_error("health", value, "an HTTP path such as `/healthz`")
                .hint("write the path the readiness probe asks, e.g. `health: /healthz`"));
        }
        let Some(path) = self.string("health", value)? else { return Ok(None) };
        if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(self
                .error(
                    value,
                    format_args!(
                        "health: expected an HTTP path starting with `/` (e.g. `/healthz`), found {path:?}"
                    ),
                )
                .hint("the readiness probe asks GET <path> on the app's port; write only the path"));
        }
        Ok(Some(At { value: path, at: value.pos }))
    }

    /// `sync:` — a path or a list of paths inside the project directory.
    pub(super) fn sync(&self, value: &Node) -> Result<Option<At<Vec<String>>>, Exit> {
        let node = self.tree.deref(value);
        let at = value.pos;
        if node.is_null() {
            return Ok(None);
        }
        let expected = "a list of paths inside the project (e.g. `[src, public]`)";
        let one = |field: &str, item: &Node| -> Result<String, Exit> {
            let Some(path) = self.string(field, item)? else {
                return Err(self.type_error(field, item, "a path"));
            };
            let escapes = path.starts_with('/')
                || camino::Utf8Path::new(&path)
                    .components()
                    .any(|c| matches!(c, camino::Utf8Component::ParentDir));
            if escapes {
                return Err(self
                    .error(
                        item,
                        format_args!("{field}: {path:?} is not inside the project directory"),
                    )
                    .hint("sync paths are relative to the directory of kilter.yaml, e.g. `src`"));
            }
            Ok(path)
        };
        if let Some(items) = node.items() {
            let mut paths = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                paths.push(one(&format!("sync[{i}]"), item)?);
            }
            return Ok(Some(At { value: paths, at }));
        }
        match node.scalar() {
            Some(Scalar::Str(_)) => Ok(Some(At { value: vec![one("sync", value)?], at })),
            _ => Err(self.type_error("sync", value, expected)),
        }
    }
}
