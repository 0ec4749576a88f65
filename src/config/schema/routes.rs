//! `routes:` — names on the shared router for the user's own Services, and the check that no
//! route takes a service's name.

use super::describe;
use super::model::{At, Config, RouteEntry};
use super::names::{SERVICE_RULE, name_problem};
use super::walk::Walker;
use crate::config::error_at;
use crate::config::span::{self, Node, Scalar};
use crate::error::Exit;

const ROUTE_KEYS: &[&str] = &["service", "port"];

impl Walker<'_> {
    /// `routes:` — a mapping of route name → `{service, port}`.
    pub(super) fn routes(&mut self, value: &Node) -> Result<Vec<RouteEntry>, Exit> {
        let node = self.tree.deref(value);
        if node.is_null() {
            return Ok(Vec::new());
        }
        let hint = "e.g.\n  routes:\n    web: {service: web, port: 80}";
        let Some(entries) = node.entries() else {
            return Err(self
                .type_error("routes", value, "a mapping of route names to `{service, port}`")
                .hint(hint));
        };
        let mut routes = Vec::with_capacity(entries.len());
        for (key, item) in entries {
            span::charge(1);
            let Some(Scalar::Str(name)) = key.scalar() else {
                return Err(self
                    .error(
                        key,
                        format_args!(
                            "routes: a route's name must be a string, found {}",
                            describe(key)
                        ),
                    )
                    .hint(hint));
            };
            let field = format!("routes.{name}");
            if let Some(problem) = name_problem(name) {
                return Err(self.error(
                    key,
                    format_args!(
                        "{field}: invalid route name {name:?} ({problem}): {SERVICE_RULE}"
                    ),
                ));
            }
            let Some(fields) = self.tree.deref(item).entries() else {
                return Err(self
                    .type_error(&field, item, "a mapping with `service` and `port`")
                    .hint(hint));
            };
            let (mut service, mut port) = (None, None);
            for (k, v) in fields {
                match k.scalar() {
                    Some(Scalar::Str("service")) => {
                        let sub = format!("{field}.service");
                        let Some(Scalar::Str(s)) = self.tree.deref(v).scalar() else {
                            return Err(self.type_error(&sub, v, "the name of a Service"));
                        };
                        if s.is_empty() {
                            return Err(self.error(v, format_args!("{sub}: must not be empty")));
                        }
                        service = Some(At { value: s.to_owned(), at: v.pos });
                    }
                    Some(Scalar::Str("port")) => {
                        let sub = format!("{field}.port");
                        port = self.port(&sub, v)?;
                        if port.is_none() {
                            return Err(self.type_error(&sub, v, "a port number from 1 to 65535"));
                        }
                    }
                    _ => return Err(self.unknown_item_key(&field, k, ROUTE_KEYS)),
                }
            }
            let Some(service) = service else {
                return Err(self
                    .error(
                        item,
                        format_args!("{field}: a route needs `service` (the name of your Service)"),
                    )
                    .hint(hint));
            };
            let Some(port) = port else {
                return Err(self
                    .error(
                        item,
                        format_args!(
                            "{field}: a route needs `port` (a port of Service `{}`)",
                            service.value
                        ),
                    )
                    .hint(hint));
            };
            routes.push(RouteEntry {
                name: At { value: name.to_owned(), at: key.pos },
                service,
                port,
            });
        }
        Ok(routes)
    }

    /// A route may not take the name of a service: both would answer at it. (A route named
    /// `app` names the app of a project kilter renders none for; `up` refuses it beside a
    /// rendered app.)
    pub(super) fn route_clashes(&self, config: &Config) -> Result<(), Exit> {
        for route in &config.routes {
            let name = &route.name.value;
            if let Some(s) = config.services.iter().find(|s| s.name.value == *name) {
                return Err(error_at(
                    self.path,
                    route.name.at,
                    format_args!(
                        "routes.{name}: the name clashes with service `{name}` at line {}, column {}: both would answer at {name}.<project>.localhost",
                        s.name.at.line, s.name.at.col
                    ),
                )
                .hint("rename the route"));
            }
        }
        Ok(())
    }
}
