use camino::{Utf8Path, Utf8PathBuf};

use super::*;
use crate::config::parse;
use crate::error::{Code, code_of};
use crate::ports::{Ports, Registry};

const PATH: &str = "/p/kilter.yaml";

fn services(yaml: &str) -> Result<Vec<Service>, Exit> {
    let (config, _) = parse(Utf8Path::new(PATH), yaml).expect("valid kilter.yaml");
    resolve(Utf8Path::new(PATH), &config.services)
}

fn ok(yaml: &str) -> Vec<Service> {
    services(yaml).unwrap_or_else(|e| panic!("{yaml}: {e:?}"))
}

/// The message and hint of a resolution error (exit 4).
fn err(yaml: &str) -> (String, String) {
    let e = services(yaml).expect_err(yaml);
    assert_eq!(e.code, Code::Invalid, "{e:?}");
    (e.message.clone(), e.hint.clone().unwrap_or_default())
}

#[test]
fn catalog_names_become_services() {
    let list = ok("services: [postgres, redis, mailpit, nats, rabbitmq, minio]\n");
    let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["postgres", "redis", "mailpit", "nats", "rabbitmq", "minio"]);
    for s in &list {
        let c = catalog::find(&s.name).expect("in the catalog");
        assert_eq!(s.image, c.image);
        assert!(s.image.contains(':') && !s.image.ends_with(":latest"), "pinned: {}", s.image);
        assert_eq!(s.catalog, Some(c.name));
        assert!(!s.provides.is_empty(), "{} provides something", s.name);
    }
    let kinds: Vec<&str> = list.iter().map(|s| s.kind().as_str()).collect();
    assert_eq!(
        kinds,
        ["statefulset", "statefulset", "deployment", "deployment", "statefulset", "statefulset"]
    );
    assert_eq!(list[0].claim().as_deref(), Some("postgres-data"));
    assert_eq!(list[2].reference(), "deployment/mailpit");
}

/// The router names a catalog service's web UI port by its name: every catalog entry's `web` is
/// one of its ports, and `port:` renumbers the first port without renaming it.
#[test]
fn a_catalog_web_port_is_always_one_of_the_services_ports() {
    // The web UIs docs/kilter-yaml.md names (`http:`); postgres and redis have none.
    let webs: Vec<(&str, Option<&str>)> =
        catalog::names().into_iter().map(|n| (n, catalog::web_port(n))).collect();
    assert_eq!(
        webs,
        [
            ("postgres", None),
            ("redis", None),
            ("mailpit", Some("http")),
            ("nats", Some("monitor")),
            ("rabbitmq", Some("management")),
            ("minio", Some("console")),
        ]
    );
    for (name, web) in webs {
        let entry: Vec<&str> =
            catalog::find(name).expect("entry").ports.iter().map(|p| p.name).collect();
        for yaml in [
            format!("services: [{name}]\n"),
            format!("services:\n  - name: {name}\n    port: 4242\n"),
        ] {
            let list = ok(&yaml);
            let names: Vec<&str> = list[0].ports.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(names, entry, "{yaml}");
            if let Some(w) = web {
                assert!(names.contains(&w), "{name}'s web port {w} is one of {names:?}");
            }
        }
    }
}

#[test]
fn an_unknown_catalog_name_points_at_it_with_a_suggestion() {
    let (msg, hint) = err("name: shop\nservices:\n  - postgress\n");
    assert_eq!(msg, "/p/kilter.yaml:3:5: services[0]: `postgress` is not a catalog service");
    assert!(hint.starts_with("did you mean `postgres`?"), "{hint}");
    let (msg, hint) = err("services: [redis, kafka]\n");
    assert_eq!(msg, "/p/kilter.yaml:1:19: services[1]: `kafka` is not a catalog service");
    assert!(hint.contains("- name: kafka") && hint.contains("image:"), "{hint}");
}

#[test]
fn inline_services_need_an_image_and_a_port() {
    let (msg, hint) = err("services:\n  - name: api\n    image: ghcr.io/acme/api:dev\n");
    assert_eq!(
        msg,
        "/p/kilter.yaml:2:5: services[0]: `api` is not a catalog service, so it needs `port`"
    );
    assert!(hint.contains("port: 8080"), "{hint}");
    let (msg, hint) = err("services:\n  - name: redi\n");
    assert!(msg.ends_with("so it needs `image` and `port`"), "{msg}");
    assert!(hint.contains("did you mean the catalog's `redis`"), "{hint}");
    let (msg, _) = err("services:\n  - name: api\n    image: 'a b'\n    port: 80\n");
    assert!(msg.starts_with("/p/kilter.yaml:3:12: services[0].image:"), "{msg}");
    let list = ok("services:\n  - name: api\n    image: ghcr.io/acme/api:dev\n    port: 8080\n");
    assert_eq!(list[0].ports, [Port { name: "main".into(), port: 8080 }]);
    assert_eq!(list[0].probe, Probe::Tcp { port: "main".into() });
    assert_eq!(list[0].kind(), WorkloadKind::Deployment);
}

#[test]
fn overrides_replace_and_extend_the_catalog_entry() {
    let list = ok("services:
  - name: postgres
    image: postgres:16.4
    port: 5433
    env:
      POSTGRES_PASSWORD: secret
      TZ: UTC
    provides:
      PGURL: postgres://{{ .Name }}.{{ .Namespace }}.svc:{{ .Port }}
    volume: {size: 5Gi}
  - name: redis
    volume: false
");
    let pg = &list[0];
    assert_eq!(pg.image, "postgres:16.4");
    assert_eq!(pg.ports[0].port, 5433);
    let env: Vec<(&str, &str)> = pg.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        env,
        [
            ("POSTGRES_USER", "postgres"),
            ("POSTGRES_PASSWORD", "secret"),
            ("POSTGRES_DB", "{{ .Project }}"),
            ("PGDATA", "/var/lib/postgresql/data/pgdata"),
            ("TZ", "UTC"),
        ]
    );
    assert_eq!(pg.provides.len(), 2, "DATABASE_URL kept, PGURL added");
    assert_eq!(
        pg.volume,
        Some(Mount { path: "/var/lib/postgresql/data".into(), size: "5Gi".into() })
    );
    // `volume: false`: no claim, so a Deployment.
    assert_eq!(list[1].volume, None);
    assert_eq!(list[1].kind(), WorkloadKind::Deployment);
    // The override's password reaches DATABASE_URL and the credentials.
    let w = wire(pg, "shop", "shop-dev", None).expect("wires");
    assert_eq!(w.provides[0].cluster, "postgres://postgres:secret@postgres.shop-dev.svc:5433/shop");
    assert_eq!(w.credentials.get("password").map(String::as_str), Some("secret"));
}

#[test]
fn provided_variables_must_be_shell_names_kilter_does_not_own_and_provided_once() {
    let (msg, _) = err("services:\n  - name: redis\n    provides:\n      REDIS-URL: x\n");
    assert_eq!(
        msg,
        "/p/kilter.yaml:4:7: services[0].provides: `REDIS-URL` is not a variable name a shell can export"
    );
    let (msg, _) = err("services:\n  - name: redis\n    provides:\n      1URL: x\n");
    assert!(msg.ends_with("`1URL` is not a variable name a shell can export"), "{msg}");
    // Letters, digits and `_`, not starting with a digit; `_` may start it.
    for name in ["_URL", "url_2", "A"] {
        assert!(super::is_shell_name(name), "{name}");
    }
    for name in ["", "2A", "A-B", "A.B", "É"] {
        assert!(!super::is_shell_name(name), "{name}");
    }
    let (msg, _) = err("services:\n  - name: redis\n    provides:\n      KILTER_X: x\n");
    assert!(msg.contains("`KILTER_X` is kilter's own"), "{msg}");
    let (msg, hint) = err(
        "services:\n  - postgres\n  - name: db2\n    image: postgres:16\n    port: 5432\n    provides:\n      DATABASE_URL: postgres://db2\n",
    );
    assert_eq!(
        msg,
        "/p/kilter.yaml:7:7: services[1]: `db2` provides `DATABASE_URL`, which `postgres` (line 2) provides already"
    );
    assert!(hint.contains("DB2_DATABASE_URL"), "{hint}");
}

#[test]
fn placeholders_are_checked_where_they_are_written() {
    let (msg, _) =
        err("services:\n  - name: redis\n    provides:\n      X: redis://{{ .Namspace }}\n");
    assert!(
        msg.starts_with("/p/kilter.yaml:4:7: services[0].provides.X: unknown placeholder"),
        "{msg}"
    );
    assert!(msg.contains("did you mean `{{ .Namespace }}`"), "{msg}");
    let (msg, _) = err("services:\n  - name: redis\n    env:\n      A: '{{ .Env.B }}'\n");
    assert!(
        msg.contains("services[0].env.A") && msg.contains("only be used in `provides:`"),
        "{msg}"
    );
    let (msg, _) = err("services:\n  - name: redis\n    provides:\n      X: 'u={{ .Env.NOPE }}'\n");
    assert!(msg.contains("has no `env:` variable `NOPE`"), "{msg}");
}

#[test]
fn more_ports_than_a_block_is_an_error_naming_the_services() {
    let mut yaml = String::from("services: [postgres, redis, mailpit, nats, rabbitmq, minio]\n");
    assert!(services(&yaml).is_ok(), "10 ports fit");
    yaml = String::from("services:\n");
    for i in 0..20 {
        yaml.push_str(&format!("  - {{name: s{i}, image: busybox, port: 80}}\n"));
    }
    assert!(services(&yaml).is_ok(), "20 ports fill the block exactly");
    yaml = String::from("services:\n");
    for i in 0..21 {
        yaml.push_str(&format!("  - {{name: s{i}, image: busybox, port: 80}}\n"));
    }
    let (msg, hint) = err(&yaml);
    assert!(
        msg.starts_with("the services need 21 NodePorts, but a project's block has 20: s0 (1)"),
        "{msg}"
    );
    assert!(msg.contains("s20 (1)"), "{msg}");
    assert!(hint.contains("remove a service"), "{hint}");
}

#[test]
fn host_values_point_at_the_node_port() {
    let list = ok("services:
  - postgres
  - name: api
    image: ghcr.io/acme/api:dev
    port: 8080
    provides:
      API_URL: http://api.{{ .Namespace }}.svc.cluster.local:{{ .Port }}/v1
      API_SHORT: http://api:{{ .Port }}
      API_PORT_ONLY: '{{ .Port }}'
      API_NODE: http://127.0.0.1:{{ .NodePort }}
      NOT_AN_ADDRESS: apiary:80800
      LONGER_PORT: http://api:{{ .Port }}0
      LISTED: x,api:{{ .Port }},api.{{ .Namespace }}.svc:{{ .Port }}
");
    let np = |n: u16| std::collections::BTreeMap::from([("main".to_owned(), n)]);
    let w = wire(&list[1], "shop", "shop-dev", Some(&np(30358))).expect("wires");
    let got: Vec<(&str, &str, &str)> =
        w.provides.iter().map(|p| (p.name.as_str(), p.cluster.as_str(), p.host.as_str())).collect();
    assert_eq!(
        got,
        [
            (
                "API_URL",
                "http://api.shop-dev.svc.cluster.local:8080/v1",
                "http://127.0.0.1:30358/v1"
            ),
            ("API_SHORT", "http://api:8080", "http://127.0.0.1:30358"),
            ("API_PORT_ONLY", "8080", "8080"),
            ("API_NODE", "http://127.0.0.1:30358", "http://127.0.0.1:30358"),
            ("NOT_AN_ADDRESS", "apiary:80800", "apiary:80800"),
            // Not followed by another digit.
            ("LONGER_PORT", "http://api:80800", "http://api:80800"),
            // A bare `name:port` only at the start or after `/` or `@`; a qualified one anywhere.
            ("LISTED", "x,api:8080,api.shop-dev.svc:8080", "x,api:8080,127.0.0.1:30358"),
        ]
    );
    let pg = wire(
        &list[0],
        "shop",
        "shop-dev",
        Some(&std::collections::BTreeMap::from([("postgres".to_owned(), 30359)])),
    )
    .expect("wires");
    assert_eq!(pg.host(), Some("127.0.0.1:30359"));
    assert_eq!(pg.cluster(), "postgres.shop-dev.svc:5432");
    assert_eq!(pg.provides[0].host, "postgres://postgres:postgres@127.0.0.1:30359/shop");
    // Without a NodePort there is no host address, and the value stays as in the cluster.
    let bare = wire(&list[0], "shop", "shop-dev", None).expect("wires");
    assert_eq!(bare.host(), None);
    assert_eq!(bare.provides[0].host, bare.provides[0].cluster);
}

#[test]
fn dotenv_quotes_only_what_needs_it_and_refuses_what_no_quoting_keeps_literal() {
    let vars: Vec<(String, String)> = [
        ("A", "postgres://u:p@127.0.0.1:30359/shop"),
        ("B", "two words $HOME $(x) `y` # z"),
        ("C", ""),
        ("D", "it's"),
        ("E", "line\nbreak \"q\" \\ it's"),
        ("F", "a\\b ${ $"),
        ("G", "C:\\\\share"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let want = [
        "A=postgres://u:p@127.0.0.1:30359/shop",
        r#"B='two words $HOME $(x) `y` # z'"#,
        "C=''",
        r#"D="it's""#,
        "E=\"line\nbreak \\\"q\\\" \\\\ it's\"",
        r"F='a\b ${ $'",
        r#"G="C:\\\\share""#,
    ];
    assert_eq!(dotenv(&vars).expect("writable"), want.map(|l| format!("{l}\n")).concat());
    for (v, why) in [
        ("${HOME}", "python-dotenv expands"),
        ("'${X:-d}'", "python-dotenv expands"),
        ("it's $(touch x)", "both a `'` and a `$`"),
        ("it's `x`", "both a `'` and a `$`"),
        ("a\\\\b $x", "both a `\\\\`"),
        ("$x end\\", "a final `\\`"),
        ("end\\", "a final `\\`"),
        ("cr\r", "carriage return"),
    ] {
        let e = dotenv(&[("K".to_owned(), v.to_owned())]).expect_err(v);
        assert_eq!(e.code, Code::Invalid);
        assert!(e.message.starts_with("cannot write K in .env syntax"), "{}", e.message);
        assert!(e.message.contains(why), "{v:?}: {}", e.message);
    }
    // `${` without a closing brace, or `${a:b}`, is not a python-dotenv variable.
    assert_eq!(wiring::dotenv_value("${a:b} ${open").as_deref(), Ok("'${a:b} ${open'"));
}

#[test]
fn a_postgres_service_is_the_default_database() {
    let db = |yaml: &str| {
        let (config, _) = parse(Utf8Path::new(PATH), yaml).expect("valid");
        default_database(&config.services, "shop")
    };
    let d = db("services: [redis, postgres]\n").expect("postgres");
    assert_eq!(
        (d.service.as_str(), d.user.as_str(), d.name.as_deref()),
        ("postgres", "postgres", Some("shop"))
    );
    let d = db("services:\n  - name: postgres\n    env:\n      POSTGRES_USER: app\n      POSTGRES_DB: appdb\n")
        .expect("override");
    assert_eq!((d.user.as_str(), d.name.as_deref()), ("app", Some("appdb")));
    let d = db("services:\n  - name: db\n    image: docker.io/library/postgres:16\n    port: 5432\n    env:\n      POSTGRES_USER: u\n")
        .expect("inline postgres image");
    assert_eq!((d.service.as_str(), d.user.as_str(), d.name.as_deref()), ("db", "u", Some("u")));
    assert_eq!(db("services: [redis]\n"), None);
    assert_eq!(
        db("services:\n  - name: pg\n    image: postgres-exporter:1\n    port: 9187\n"),
        None
    );
    // A `:` followed by a `/` is a registry's port, not a tag: the image of registry
    // `postgres:5000` named `app` is no PostgreSQL.
    assert_eq!(db("services:\n  - name: pg\n    image: postgres:5000/app\n    port: 80\n"), None);
    let d = db("services:\n  - name: pg\n    image: postgres@sha256:0123abcd\n    port: 5432\n")
        .expect("a digest");
    assert_eq!(d.service, "pg");
}

// ---------------------------------------------------------------------------------------------
// NodePorts

fn wanted(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    list.iter()
        .map(|(s, ps)| ((*s).to_owned(), ps.iter().map(|p| (*p).to_owned()).collect()))
        .collect()
}

fn assigned(reg: &mut Registry, list: &[(&str, &[&str])]) -> NodePorts {
    reg.assign("shop", None).expect("slot");
    reg.assign_nodeports("shop", &wanted(list)).expect("assigned").0
}

fn port(n: &NodePorts, s: &str, p: &str) -> u16 {
    n[s][p]
}

#[test]
fn node_ports_come_from_the_top_of_the_block_and_never_move() {
    let mut reg = Registry::default();
    let base = Ports::of(reg.assign("shop", None).expect("slot")).base;
    let a = assigned(&mut reg, &[("postgres", &["postgres"]), ("mailpit", &["smtp", "http"])]);
    assert_eq!(port(&a, "postgres", "postgres"), base + 19);
    assert_eq!((port(&a, "mailpit", "smtp"), port(&a, "mailpit", "http")), (base + 18, base + 17));
    // Reordered, with a service added in front: nobody moves; the new one takes the next free.
    let b = assigned(
        &mut reg,
        &[("redis", &["redis"]), ("mailpit", &["smtp", "http"]), ("postgres", &["postgres"])],
    );
    assert_eq!(port(&b, "postgres", "postgres"), base + 19);
    assert_eq!(port(&b, "mailpit", "http"), base + 17);
    assert_eq!(port(&b, "redis", "redis"), base + 16);
    // Removing one frees its ports and moves nobody else; a later service reuses the gap.
    let c = assigned(&mut reg, &[("redis", &["redis"]), ("postgres", &["postgres"])]);
    assert_eq!(
        (port(&c, "postgres", "postgres"), port(&c, "redis", "redis")),
        (base + 19, base + 16)
    );
    assert!(!c.contains_key("mailpit"));
    let d = assigned(
        &mut reg,
        &[("redis", &["redis"]), ("postgres", &["postgres"]), ("nats", &["client"])],
    );
    assert_eq!(port(&d, "nats", "client"), base + 18);
    assert_eq!(port(&d, "redis", "redis"), base + 16);
    // The record survives a JSON round trip (ports.json), and an entry without services still
    // reads (a registry written before services existed).
    let text = serde_json::to_string(&reg).expect("json");
    let mut back: Registry = serde_json::from_str(&text).expect("reads");
    assert_eq!(
        assigned(&mut back, &[("postgres", &["postgres"])])["postgres"]["postgres"],
        base + 19
    );
    let old: Registry =
        serde_json::from_str(r#"{"version":1,"projects":{"shop":{"slot":17}}}"#).expect("old");
    assert!(old.projects["shop"].services.is_empty());
}

#[test]
fn a_full_block_names_the_services_holding_it() {
    let mut reg = Registry::default();
    let many: Vec<(String, Vec<String>)> =
        (0..20).map(|i| (format!("s{i}"), vec!["main".to_owned()])).collect();
    reg.assign("shop", None).expect("slot");
    reg.assign_nodeports("shop", &many).expect("20 fit");
    let mut more = many.clone();
    more.push(("extra".to_owned(), vec!["main".to_owned()]));
    let e = reg.assign_nodeports("shop", &more).expect_err("21 do not");
    assert_eq!(code_of(&e), Code::Invalid);
    let text = e.to_string();
    assert!(text.contains("no port left for service `extra`"), "{text}");
    assert!(text.contains("taken by s0 ("), "{text}");
}

#[test]
fn a_recorded_port_outside_the_block_is_reassigned() {
    let mut reg = Registry::default();
    let a = assigned(&mut reg, &[("redis", &["redis"])]);
    let slot = reg.projects["shop"].slot;
    reg.projects.get_mut("shop").expect("entry").slot = (slot + 1) % crate::ports::SLOTS;
    let b = assigned(&mut reg, &[("redis", &["redis"])]);
    assert_ne!(a["redis"]["redis"], b["redis"]["redis"]);
    assert!(Ports::of(reg.projects["shop"].slot).block().contains(&b["redis"]["redis"]));
}

// ---------------------------------------------------------------------------------------------
// Rendered manifests against the reviewed files in tests/golden/services/

fn golden_dir() -> Utf8PathBuf {
    crate::golden::dir("services")
}

/// The manifests of project `shop` (slot 17, NodePorts 30340-30359) for `yaml`.
fn render_shop(yaml: &str) -> String {
    let list = ok(yaml);
    let mut reg = Registry::default();
    reg.assign("shop", None).expect("slot");
    let (nodeports, _) = reg.assign_nodeports("shop", &wanted_ports(&list)).expect("ports");
    let wired = wire_all(&list, "shop", "shop-dev", &nodeports).expect("wires");
    let pairs: Vec<(&Service, &Wired)> = list.iter().zip(&wired).collect();
    manifests(&pairs, "shop-dev").expect("something to render")
}

fn golden(file: &str, got: &str) {
    crate::golden::check(&golden_dir().join(file), got);
}

/// The inline examples of the golden files (also used by the schema validation test).
pub(crate) const INLINE_EXAMPLES: &[(&str, &str)] = &[
    (
        "inline-api.yaml",
        "name: shop
services:
  - name: api
    image: ghcr.io/acme/api:dev
    port: 8080
    env:
      LOG_LEVEL: debug
      PUBLIC_URL: http://127.0.0.1:{{ .NodePort }}
      RETRIES: 3
    provides:
      API_URL: http://{{ .Name }}.{{ .Namespace }}.svc:{{ .Port }}
",
    ),
    (
        "inline-with-volume.yaml",
        "name: shop
services:
  - name: search
    image: docker.io/getmeili/meilisearch:v1.12
    port: 7700
    env:
      MEILI_ENV: development
    volume: {path: /meili_data, size: 2Gi}
    provides:
      MEILI_URL: http://{{ .Name }}.{{ .Namespace }}.svc:{{ .Port }}
",
    ),
    (
        "override-postgres.yaml",
        "name: shop
services:
  - name: postgres
    image: postgres:16.4
    env:
      POSTGRES_PASSWORD: secret
    volume: {size: 5Gi}
  - name: redis
    volume: false
",
    ),
];

#[test]
fn rendered_manifests_match_the_reviewed_golden_files() {
    for entry in catalog::CATALOG {
        golden(
            &format!("{}.yaml", entry.name),
            &render_shop(&format!("services: [{}]\n", entry.name)),
        );
    }
    for (file, yaml) in INLINE_EXAMPLES {
        golden(file, &render_shop(yaml));
    }
}

#[test]
fn every_object_is_labelled_and_named_after_its_service() {
    let text = render_shop("services: [postgres, redis, mailpit, nats, rabbitmq, minio]\n");
    let docs: Vec<&str> = text.split("---\n").skip(1).collect();
    // Four data services: claim, Service, StatefulSet; two others: Service, Deployment.
    assert_eq!(docs.len(), 4 * 3 + 2 * 2);
    for d in &docs {
        assert!(d.contains("app.kubernetes.io/managed-by: kilter\n"), "{d}");
        assert!(d.contains("namespace: shop-dev\n"), "{d}");
        assert!(d.contains("app.kubernetes.io/name: "), "{d}");
    }
    assert!(text.contains("kind: StatefulSet\nmetadata:\n  labels:\n    app.kubernetes.io/managed-by: kilter\n    app.kubernetes.io/name: postgres\n  name: postgres\n"));
    assert!(text.contains("kind: Deployment\nmetadata:\n  labels:\n    app.kubernetes.io/managed-by: kilter\n    app.kubernetes.io/name: mailpit\n  name: mailpit\n"));
    assert!(text.contains("claimName: postgres-data"));
    assert_eq!(text.matches("type: NodePort").count(), 6);
    assert_eq!(text.matches("enableServiceLinks: false").count(), 6);
}

/// The app kilter renders has the block's first port: no route takes it, not even a route that
/// had it before the project rendered an app (when its own Tiltfile ran and the services left
/// only that port); it then gets another, and a route that finds no other is refused.
#[test]
fn no_route_takes_the_port_reserved_for_the_rendered_app() {
    let mut reg = Registry::default();
    let base = Ports::of(reg.assign("shop", None).expect("slot")).base;
    let names: Vec<(String, Vec<String>)> =
        (0..19).map(|i| (format!("svc{i}"), vec!["p".to_owned()])).collect();
    let (all, _) = reg.assign_nodeports("shop", &names).expect("19 ports");
    let web = ["web".to_owned()];
    assert_eq!(reg.assign_routes("shop", &web, None).expect("own Tiltfile")["web"], base);
    let err = reg.assign_routes("shop", &web, Some(base)).expect_err("no port left");
    assert!(format!("{err:#}").contains("is full: no port left for route `web`"), "{err:#}");
    // The refusal keeps the route's record as it was.
    assert_eq!(reg.projects["shop"].services["route:web"]["http"], base);
    // With a service fewer, the route moves off the app's port to the one that service freed.
    reg.assign_nodeports("shop", &names[1..]).expect("18 ports");
    let moved = reg.assign_routes("shop", &web, Some(base)).expect("a port")["web"];
    assert_eq!(moved, all["svc0"]["p"]);
    assert_eq!(reg.projects["shop"].services["route:web"]["http"], moved);
}

/// Routes' NodePorts sit beside the services' under `route:<name>`: services never take or
/// drop them (nor count them as removed services), and a route keeps its port across `up`s.
#[test]
fn route_nodeports_are_stable_and_outside_the_services() {
    let mut reg = Registry::default();
    let first = assigned(&mut reg, &[("redis", &["redis"])]);
    let redis = first["redis"]["redis"];
    let routes = reg.assign_routes("shop", &["web".to_owned()], None).expect("a route");
    let web = routes["web"];
    assert_ne!(web, redis);
    assert_eq!(reg.projects["shop"].services["route:web"]["http"], web);
    // Services come and go: the route keeps its port, and is no removed service.
    let (next, had) = reg
        .assign_nodeports("shop", &wanted(&[("redis", &["redis"]), ("mailpit", &["smtp", "http"])]))
        .expect("ports");
    assert_eq!(had, ["redis"]);
    assert!(!next.contains_key("route:web"), "{next:?}");
    assert!(next.values().flat_map(|m| m.values()).all(|&p| p != web), "{next:?}");
    assert_eq!(reg.projects["shop"].services["route:web"]["http"], web);
    // Another route is added: the first keeps its port; dropping it gives it back.
    let two = reg.assign_routes("shop", &["api".to_owned(), "web".to_owned()], None).expect("two");
    assert_eq!(two["web"], web);
    assert_ne!(two["api"], web);
    let one = reg.assign_routes("shop", &["api".to_owned()], None).expect("one");
    assert_eq!(one["api"], two["api"]);
    assert!(!reg.projects["shop"].services.contains_key("route:web"));
    assert_eq!(
        crate::ports::recorded_routes(&reg.projects["shop"].services),
        [("api".to_owned(), two["api"])]
    );
    // The services' ports are untouched by the routes.
    assert_eq!(reg.projects["shop"].services["redis"]["redis"], redis);
}

/// A list inside a list (none of today's manifests has one) nests two spaces deeper, and reads
/// back as the same value.
#[test]
fn a_list_inside_a_list_nests_and_reads_back() {
    let v = serde_json::json!({"args": [["a", "b"], ["c"]], "deep": [[["x"]]], "top": [[1]]});
    let text = super::yaml::to_yaml(&v);
    assert_eq!(
        text,
        "args:\n  - \n    - a\n    - b\n  - \n    - c\ndeep:\n  - \n    - \n      - x\ntop:\n  - \n    - 1\n"
    );
    let back: serde_json::Value = serde_yaml::from_str(&text).expect("valid YAML");
    assert_eq!(back, v);
}
