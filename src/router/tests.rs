use std::collections::BTreeMap;

use camino::Utf8Path;
use serde_json::Value;

use super::*;
use crate::error::{Code, Exit};
use crate::ports::{self, NodePorts, Registry as PortRegistry};
use crate::tools::docker::KilterNode;

fn settings(vars: &[(&str, &str)]) -> Result<Settings, Exit> {
    Settings::from_lookup(crate::shared::lookup(vars))
}

fn golden(file: &str, got: &str) {
    crate::golden::check(&crate::golden::dir("router").join(file), got);
}

fn node(project: &str, state: &str) -> KilterNode {
    KilterNode {
        project: project.into(),
        cluster: format!("kilter-{project}"),
        node: format!("kilter-{project}-control-plane"),
        state: state.into(),
        status: String::new(),
    }
}

fn entry(slot: u16, dir: &str, services: &[(&str, &[(&str, u16)])]) -> ports::Entry {
    ports::Entry {
        slot,
        dir: Some(dir.into()),
        services: services
            .iter()
            .map(|(s, ps)| {
                ((*s).to_owned(), ps.iter().map(|(n, p)| ((*n).to_owned(), *p)).collect())
            })
            .collect(),
        ..ports::Entry::default()
    }
}

/// shop (running: mailpit, minio, postgres; an app), blog (running: rabbitmq, redis), old
/// (stopped), gone (destroyed, known to the port registry).
fn machine_records() -> Vec<ProjectRecord> {
    let mut reg = PortRegistry { version: 1, ..PortRegistry::default() };
    reg.projects.insert(
        "shop".into(),
        entry(
            17,
            "/home/dev/shop",
            &[
                ("mailpit", &[("smtp", 30359), ("http", 30358)]),
                ("minio", &[("api", 30357), ("console", 30356)]),
                ("postgres", &[("postgres", 30355)]),
            ],
        ),
    );
    reg.projects.insert(
        "blog".into(),
        entry(
            3,
            "/home/dev/blog",
            &[
                ("rabbitmq", &[("amqp", 30079), ("management", 30078)]),
                ("redis", &[("redis", 30077)]),
                // `routes: {web: {service: web, port: 80}}`: the user's own Service.
                ("route:web", &[("http", 30076)]),
            ],
        ),
    );
    reg.projects.insert(
        "old".into(),
        entry(5, "/home/dev/<old> & {x}", &[("mailpit", &[("http", 30119)])]),
    );
    reg.projects.insert("gone".into(), ports::Entry { slot: 9, ..ports::Entry::default() });
    let nodes = [node("blog", "running"), node("old", "exited"), node("shop", "running")];
    reg.projects.get_mut("shop").expect("shop").app = Some(30340);
    records(Some(&reg), &nodes)
}

#[test]
fn settings_defaults_overrides_and_bad_values() {
    let s = settings(&[]).expect("defaults");
    assert!(s.machine_on);
    assert_eq!(
        (s.image.as_str(), s.name.as_str(), s.preferred_port),
        ("caddy:2", "kilter-router", 80)
    );
    let s = settings(&[
        ("KILTER_ROUTER", "off"),
        ("KILTER_ROUTER_IMAGE", "kilter-test-router:latest"),
        ("KILTER_ROUTER_PORT", "8181"),
        ("KILTER_REGISTRY_PREFIX", "rd1"),
    ])
    .expect("valid");
    assert!(!s.machine_on);
    assert_eq!(
        (s.image.as_str(), s.name.as_str(), s.preferred_port),
        ("kilter-test-router:latest", "rd1-router", 8181)
    );
    for bad in [
        ("KILTER_ROUTER", "maybe"),
        ("KILTER_ROUTER_PORT", "0"),
        ("KILTER_ROUTER_PORT", "http"),
        ("KILTER_REGISTRY_PREFIX", "Bad Name"),
    ] {
        let err = settings(&[bad]).expect_err(&format!("{bad:?} is refused"));
        assert_eq!(err.code, Code::Invalid, "{bad:?}");
    }
}

#[test]
fn records_take_states_dirs_and_only_web_ports() {
    let r = machine_records();
    let names: Vec<(&str, NodeState)> = r.iter().map(|r| (r.name.as_str(), r.state)).collect();
    assert_eq!(
        names,
        [
            ("blog", NodeState::Running),
            ("gone", NodeState::Absent),
            ("old", NodeState::Stopped),
            ("shop", NodeState::Running)
        ]
    );
    let shop = &r[3];
    assert_eq!(shop.web, [("mailpit".to_owned(), 30358), ("minio".to_owned(), 30356)]);
    assert_eq!(shop.app, Some(30340));
    assert_eq!(shop.node, "kilter-shop-control-plane");
    assert_eq!(r[0].web, [("rabbitmq".to_owned(), 30078)]);
    assert_eq!(r[0].routes, [("web".to_owned(), 30076)]);
    assert_eq!(r[0].app, None);
    assert!(records(None, &[]).is_empty());
}

#[test]
fn routes_proxy_running_projects_and_answer_503_for_the_others() {
    let routes = routes(&machine_records());
    let proxied: Vec<(Vec<String>, String)> = routes
        .iter()
        .filter_map(|r| match &r.target {
            Target::Proxy { dial } => Some((r.hosts.clone(), dial.clone())),
            _ => None,
        })
        .collect();
    let h = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        proxied,
        [
            (h(&["rabbitmq.blog.localhost"]), "kilter-blog-control-plane:30078".to_owned()),
            (h(&["web.blog.localhost"]), "kilter-blog-control-plane:30076".to_owned()),
            (
                h(&["shop.localhost", "app.shop.localhost"]),
                "kilter-shop-control-plane:30340".to_owned()
            ),
            (h(&["mailpit.shop.localhost"]), "kilter-shop-control-plane:30358".to_owned()),
            (h(&["minio.shop.localhost"]), "kilter-shop-control-plane:30356".to_owned()),
        ]
    );
    let down: Vec<&Route> =
        routes.iter().filter(|r| matches!(r.target, Target::Down { .. })).collect();
    assert_eq!(down.len(), 2);
    assert_eq!(down[0].hosts, h(&["gone.localhost", "*.gone.localhost"]));
    assert_eq!(down[1].hosts, h(&["old.localhost", "*.old.localhost"]));
    // A running project's other names: 404 listing the names it has; the apex only without an app.
    let blog_404 = routes
        .iter()
        .find(|r| matches!(&r.target, Target::NoSuchName { project, .. } if project == "blog"))
        .expect("blog's catch-all");
    assert_eq!(blog_404.hosts, h(&["blog.localhost", "*.blog.localhost"]));
    let shop_404 = routes
        .iter()
        .find(|r| matches!(&r.target, Target::NoSuchName { project, .. } if project == "shop"))
        .expect("shop's catch-all");
    assert_eq!(shop_404.hosts, h(&["*.shop.localhost"]));
}

#[test]
fn a_service_named_app_gives_way_to_the_app() {
    let r = ProjectRecord {
        name: "p".into(),
        dir: None,
        state: NodeState::Running,
        node: "kilter-p-control-plane".into(),
        web: vec![("app".into(), 30001), ("web-ui".into(), 30002)],
        app: Some(30000),
        routes: vec![],
    };
    assert_eq!(
        names_of(&r),
        [
            ("APP".to_owned(), "p.localhost".to_owned()),
            ("WEB_UI_WEB".to_owned(), "web-ui.p.localhost".to_owned())
        ]
    );
    let dials: Vec<String> = routes(std::slice::from_ref(&r))
        .into_iter()
        .filter_map(|r| match r.target {
            Target::Proxy { dial } => Some(dial),
            _ => None,
        })
        .collect();
    assert_eq!(dials, ["kilter-p-control-plane:30000", "kilter-p-control-plane:30002"]);
    // Without the app, the service named app has its name.
    let no_app = ProjectRecord { app: None, ..r };
    assert_eq!(names_of(&no_app)[0], ("APP_WEB".to_owned(), "app.p.localhost".to_owned()));
}

#[test]
fn rendered_config_is_deterministic_and_golden() {
    let records = machine_records();
    let text = render(&routes(&records));
    let mut reversed = records.clone();
    reversed.reverse();
    assert_eq!(render(&routes(&reversed)), text, "the same records give the same bytes");
    let v: Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(v["admin"]["listen"], ADMIN_LISTEN);
    assert_eq!(v["apps"]["http"]["servers"]["kilter"]["listen"][0], ":80");
    golden("machine.json", &text);
    golden("empty.json", &render(&[]));
}

#[test]
fn pages_escape_html_and_caddy_placeholders() {
    let p =
        down_page("old", Some(Utf8Path::new("/home/dev/<old> & {x} \"q\"")), NodeState::Stopped);
    assert!(p.contains("kilter project old is stopped"), "{p}");
    assert!(
        p.contains(
            "<code>kilter up</code> in <code>/home/dev/&lt;old&gt; &amp; &#123;x&#125; &quot;q&quot;</code>"
        ),
        "{p}"
    );
    let p = down_page("gone", None, NodeState::Absent);
    assert!(p.contains("gone has no cluster") && p.contains("in its directory"), "{p}");
}

#[test]
fn urls_and_port_candidates() {
    assert_eq!(url("shop.localhost", 80), "http://shop.localhost");
    assert_eq!(url("shop.localhost", 8080), "http://shop.localhost:8080");
    assert_eq!(candidates(None, 80)[..3], [80, 8080, 8081]);
    assert_eq!(candidates(None, 80).len(), 21);
    assert_eq!(candidates(Some(8083), 80)[..3], [8083, 80, 8080]);
    assert_eq!(candidates(Some(80), 80).len(), 21);
    let busy = [80u16, 8080];
    assert_eq!(pick_port(candidates(None, 80), |p| busy.contains(&p)), Some(8081));
    assert_eq!(pick_port(candidates(None, 80), |_| true), None);
}

#[test]
fn localhost_names_resolve_to_loopback_or_say_what_they_resolve_to() {
    // `localhost` itself is in every hosts file; a name that cannot resolve is an error text.
    assert!(localhost_resolves("localhost").is_ok());
    assert!(localhost_resolves("no-such-name.invalid").is_err());
    // An address that is not the loopback (a literal, so no resolver is asked) is named.
    assert_eq!(localhost_resolves("127.0.0.2"), Ok(vec!["127.0.0.2".parse().expect("an address")]));
    assert_eq!(localhost_resolves("192.0.2.7"), Err("192.0.2.7".to_owned()));
}

#[test]
fn http_in_kilter_yaml_names_an_inline_port_or_takes_the_catalogs_away() {
    let services: NodePorts = [
        ("api".to_owned(), BTreeMap::from([("api".to_owned(), 30010)])),
        ("mailpit".to_owned(), BTreeMap::from([("http".to_owned(), 30011)])),
        ("minio".to_owned(), BTreeMap::from([("console".to_owned(), 30012)])),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        web_services(&services, &BTreeMap::new()),
        [("mailpit".to_owned(), 30011), ("minio".to_owned(), 30012)],
        "the catalog alone"
    );
    let web =
        BTreeMap::from([("api".to_owned(), "api".to_owned()), ("minio".to_owned(), String::new())]);
    assert_eq!(
        web_services(&services, &web),
        [("api".to_owned(), 30010), ("mailpit".to_owned(), 30011)],
        "api by http: true, minio off by http: false"
    );
    let yaml = "services:\n  - name: api\n    image: ghcr.io/me/api:1\n    port: 8080\n    http: true\n  - name: minio\n    http: false\n  - name: mailpit\n    http: true\n  - redis\n";
    let (config, _) = crate::config::parse(Utf8Path::new("kilter.yaml"), yaml).expect("valid");
    let resolved =
        crate::services::resolve(Utf8Path::new("kilter.yaml"), &config.services).expect("resolves");
    let over = web_overrides(&config.services, &resolved);
    assert_eq!(over.get("minio").map(String::as_str), Some(""));
    assert_eq!(over.get("api"), resolved[0].ports.first().map(|p| &p.name));
    assert_eq!(
        over.get("mailpit").map(String::as_str),
        Some("http"),
        "the catalog's web port, not smtp"
    );
    assert!(!over.contains_key("redis"));
}

#[test]
fn a_route_is_named_and_proxied_to_its_nodeport() {
    let reg_entry = entry(
        3,
        "/home/dev/blog",
        &[("redis", &[("redis", 30077)]), ("route:my-web", &[("http", 30076)])],
    );
    let mut reg = PortRegistry { version: 1, ..PortRegistry::default() };
    reg.projects.insert("blog".into(), reg_entry);
    let recs = records(Some(&reg), &[node("blog", "running")]);
    assert_eq!(recs[0].routes, [("my-web".to_owned(), 30076)]);
    // A route key is no web service, whatever `http:` says of services.
    assert!(recs[0].web.is_empty());
    assert_eq!(
        names_of(&recs[0]),
        [("ROUTE_MY_WEB".to_owned(), "my-web.blog.localhost".to_owned())]
    );
    let proxied: Vec<(Vec<String>, String)> = routes(&recs)
        .into_iter()
        .filter_map(|r| match r.target {
            Target::Proxy { dial } => Some((r.hosts, dial)),
            _ => None,
        })
        .collect();
    assert_eq!(
        proxied,
        [(vec!["my-web.blog.localhost".to_owned()], "kilter-blog-control-plane:30076".to_owned())]
    );
    // Stopped: the route's name answers 503 like the others (the wildcard).
    let stopped = records(Some(&reg), &[node("blog", "exited")]);
    assert!(routes(&stopped).iter().all(|r| !matches!(r.target, Target::Proxy { .. })));
}

/// A route named `app` is the app of a project kilter renders none for: the project's own
/// names go to it; a rendered app keeps them (and the route stays a route).
#[test]
fn a_route_named_app_takes_the_project_names_when_kilter_renders_no_app() {
    let reg_entry = entry(3, "/home/dev/blog", &[("route:app", &[("http", 30076)])]);
    let mut reg = PortRegistry { version: 1, ..PortRegistry::default() };
    reg.projects.insert("blog".into(), reg_entry);
    let recs = records(Some(&reg), &[node("blog", "running")]);
    assert_eq!(recs[0].app, Some(30076));
    assert!(recs[0].routes.is_empty());
    let proxied: Vec<(Vec<String>, String)> = routes(&recs)
        .into_iter()
        .filter_map(|r| match r.target {
            Target::Proxy { dial } => Some((r.hosts, dial)),
            _ => None,
        })
        .collect();
    assert_eq!(
        proxied,
        [(
            vec!["blog.localhost".to_owned(), "app.blog.localhost".to_owned()],
            "kilter-blog-control-plane:30076".to_owned()
        )]
    );
    reg.projects.get_mut("blog").expect("blog").app = Some(30060);
    let recs = records(Some(&reg), &[node("blog", "running")]);
    assert_eq!(recs[0].app, Some(30060));
    assert_eq!(recs[0].routes, [("app".to_owned(), 30076)]);
}
