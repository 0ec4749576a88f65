//! `services:` — a list of catalog names and mappings, each checked and typed, with a
//! duplicate name an error at its position.

use std::collections::HashMap;

use super::model::{At, ServiceEntry, Volume};
use super::walk::Walker;
use crate::config::error_at;
use crate::config::span::{self, Node, Scalar};
use crate::error::Exit;

const SERVICE_KEYS: &[&str] = &["name", "image", "port", "env", "provides", "volume", "http"];
const VOLUME_KEYS: &[&str] = &["path", "size"];

impl Walker<'_> {
    pub(super) fn services(&mut self, value: &Node) -> Result<Vec<ServiceEntry>, Exit> {
        let node = self.tree.deref(value);
        if node.is_null() {
            return Ok(Vec::new());
        }
        let Some(items) = node.items() else {
            return Err(self
                .type_error("services", value, "a list of services")
                .hint("list each service as an item: a catalog name or a mapping, e.g.\n  services:\n    - redis\n    - name: api\n      image: ghcr.io/acme/api:dev"));
        };
        let mut services: Vec<ServiceEntry> = Vec::with_capacity(items.len());
        // Each name and the line of its first item: duplicates without a quadratic search.
        let mut seen: HashMap<String, usize> = HashMap::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let service = self.service(&format!("services[{index}]"), item)?;
            span::charge(1);
            if let Some(line) = seen.get(&service.name.value) {
                return Err(error_at(
                    self.path,
                    service.name.at,
                    format_args!(
                        "services[{index}]: duplicate service `{}` (first listed on line {line})",
                        service.name.value
                    ),
                )
                .hint("list each service once"));
            }
            seen.insert(service.name.value.clone(), service.at.line);
            services.push(service);
        }
        Ok(services)
    }

    pub(super) fn service(&mut self, field: &str, item: &Node) -> Result<ServiceEntry, Exit> {
        let node = self.tree.deref(item);
        if let Some(Scalar::Str(name)) = node.scalar() {
            self.check_service_name(field, item, name)?;
            let name = At { value: name.to_owned(), at: item.pos };
            return Ok(ServiceEntry {
                at: item.pos,
                bare: true,
                name,
                image: None,
                port: None,
                env: Vec::new(),
                provides: Vec::new(),
                volume: None,
                http: None,
            });
        }
        let Some(entries) = node.entries() else {
            return Err(self.type_error(
                field,
                item,
                "a catalog service name or a mapping with `name`",
            ));
        };
        let mut service = ServiceEntry {
            at: item.pos,
            bare: false,
            name: At { value: String::new(), at: item.pos },
            image: None,
            port: None,
            env: Vec::new(),
            provides: Vec::new(),
            volume: None,
            http: None,
        };
        let mut named = false;
        for (key, value) in entries {
            let at = value.pos;
            let key_name = match key.scalar() {
                Some(Scalar::Str(k)) if SERVICE_KEYS.contains(&k) => k,
                _ => return Err(self.unknown_item_key(field, key, SERVICE_KEYS)),
            };
            let sub = format!("{field}.{key_name}");
            match key_name {
                "name" => {
                    let Some(name) = self.string(&sub, value)? else {
                        return Err(self.error(value, format_args!("{sub}: must not be empty")));
                    };
                    self.check_service_name(field, value, &name)?;
                    service.name = At { value: name, at: value.pos };
                    named = true;
                }
                "image" => {
                    service.image = self.string(&sub, value)?.map(|value| At { value, at });
                }
                "port" => service.port = self.port(&sub, value)?,
                "env" => service.env = self.vars(&sub, value, false)?,
                "provides" => service.provides = self.vars(&sub, value, true)?,
                "http" => {
                    service.http = match self.tree.deref(value).scalar() {
                        Some(Scalar::Null) => None,
                        Some(Scalar::Bool(b)) => Some(b),
                        _ => {
                            return Err(self.type_error(&sub, value, "true or false").hint(
                                "`http: true` gives the service's first port a name on the shared router",
                            ));
                        }
                    }
                }
                _ => service.volume = self.volume(&sub, value)?,
            }
        }
        if !named {
            return Err(self
                .error(item, format_args!("{field}: a service mapping needs a `name`"))
                .hint("e.g. `- name: api` (a catalog name alone is written `- redis`)"));
        }
        Ok(service)
    }

    pub(super) fn volume(&self, field: &str, value: &Node) -> Result<Option<At<Volume>>, Exit> {
        let expected = "`false`, an absolute mount path or a mapping with `path` and `size`";
        let node = self.tree.deref(value);
        let at = value.pos;
        let volume = match node.scalar() {
            Some(Scalar::Null) => return Ok(None),
            Some(Scalar::Bool(false)) => Volume::Off,
            Some(Scalar::Str(path)) => {
                Volume::Mount { path: Some(self.mount_path(field, value, path)?), size: None }
            }
            Some(_) => return Err(self.type_error(field, value, expected)),
            None => {
                let Some(entries) = node.entries() else {
                    return Err(self.type_error(field, value, expected));
                };
                let (mut path, mut size) = (None, None);
                for (key, v) in entries {
                    let sub = format!("{field}.{}", key.key_repr());
                    if key.is_key("path") {
                        path = match self.string(&sub, v)? {
                            Some(p) => Some(self.mount_path(&sub, v, &p)?),
                            None => None,
                        };
                    } else if key.is_key("size") {
                        size = self.size(&sub, v)?;
                    } else {
                        return Err(self.unknown_item_key(field, key, VOLUME_KEYS));
                    }
                }
                Volume::Mount { path, size }
            }
        };
        Ok(Some(At { value: volume, at }))
    }

    pub(super) fn mount_path(&self, field: &str, at: &Node, path: &str) -> Result<String, Exit> {
        if path.starts_with('/') {
            return Ok(path.to_owned());
        }
        Err(self
            .error(at, format_args!("{field}: the mount path must be absolute, found {path:?}"))
            .hint("e.g. `/var/lib/postgresql/data`; `volume: false` for no volume"))
    }

    pub(super) fn size(&self, field: &str, value: &Node) -> Result<Option<String>, Exit> {
        let node = self.tree.deref(value);
        match (node.scalar(), node.text()) {
            (Some(Scalar::Null), _) => Ok(None),
            (Some(Scalar::Str(_) | Scalar::Number(_)), Some(text)) if is_quantity(text) => {
                Ok(Some(text.to_owned()))
            }
            _ => Err(self.type_error(field, value, "a size such as `1Gi` or `500Mi`").hint(
                "sizes are Kubernetes quantities: a number with Ki, Mi, Gi, Ti (or k, M, G, T)",
            )),
        }
    }
}

/// A Kubernetes quantity as used for volume sizes: `10`, `1.5Gi`, `500M`.
fn is_quantity(text: &str) -> bool {
    const SUFFIXES: &[&str] = &["Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E"];
    let number = SUFFIXES
        .iter()
        .find_map(|s| text.strip_suffix(s))
        .filter(|n| !n.is_empty())
        .unwrap_or(text);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && digits(fraction) && number.bytes().any(|b| b != b'0' && b != b'.')
}
