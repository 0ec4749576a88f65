use super::names::NAME_RULE;
use super::walk::ECOSYSTEM_KEYS;
use crate::config::tests::{APP, DOCUMENTED, ROUTES, SPEC_EXAMPLE, parse_err, parse_ok, path};
use crate::config::*;
use crate::error::Code;

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

#[test]
fn empty_and_comment_only_files_give_the_default_config() {
    for text in [
        "",
        "\n",
        "\n\n   \n",
        "# only a comment\n",
        "# no trailing newline",
        "# one\n\n# two\n",
        "---\n",
        "---\n# c\n...\n",
        "\r\n# crlf\r\n",
        "~\n",
    ] {
        let (config, warnings) = parse_ok(text);
        assert_eq!(config, Config::default(), "{text:?}");
        assert!(warnings.is_empty(), "{text:?}: {warnings:?}");
    }
}

#[test]
fn the_spec_example_parses() {
    let (config, warnings) = parse_ok(SPEC_EXAMPLE);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        config,
        Config {
            name: Some("shop".into()),
            tiltfile: Some("Tiltfile".into()),
            kind: KindSection { image: Some("kindest/node:v1.31.0".into()) },
            database: Some(Database {
                engine: Engine::Postgres,
                service: "postgres".into(),
                user: "postgres".into(),
                name: Some("shop".into()),
            }),
            cluster: ClusterSection { stopped: true },
            registry: true,
            router: true,
            services: vec![],
            routes: vec![],
            app: AppSection::default(),
        }
    );
}

#[test]
fn ecosystem_keys_are_accepted_silently_and_not_interpreted() {
    let (mut config, warnings) = parse_ok(DOCUMENTED);
    assert!(warnings.is_empty(), "{warnings:?}");
    // `services:` is kilter's own now (see the services tests below), and so are the app's
    // fields (see the app tests).
    let names: Vec<&str> = config.services.iter().map(|s| s.name.value.as_str()).collect();
    assert_eq!(names, ["postgres", "redis"]);
    config.services.clear();
    assert_eq!(config.app.port.as_ref().map(|p| p.value), Some(8080));
    assert_eq!(config.app.health.as_ref().map(|h| h.value.as_str()), Some("/healthz"));
    let env: Vec<&str> = config.app.env.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(env, ["RUST_LOG", "DATABASE_URL"]);
    config.app = AppSection::default();
    assert_eq!(
        config,
        Config {
            name: Some("shop".into()),
            database: Some(Database::default()),
            ..Config::default()
        }
    );
    // Every ecosystem key, with values of every shape kilter would reject in its own fields.
    for key in ECOSYSTEM_KEYS {
        for value in ["1", "[a, b]", "{a: 1}", "\n  nested: true", " ~", " \"text\""] {
            let text = format!(
                "name: ok\n{key}:{}{value}\n",
                if value.starts_with(['\n', ' ']) { "" } else { " " }
            );
            let (config, warnings) = parse_ok(&text);
            assert_eq!(config.name.as_deref(), Some("ok"), "{text:?}");
            assert!(warnings.is_empty(), "{text:?}: {warnings:?}");
        }
    }
}

#[test]
fn unknown_keys_are_warnings_with_did_you_mean_when_close() {
    let cases: &[(&str, &[&str])] = &[
        (
            "tiltflie: Tiltfile\n",
            &["/p/kilter.yaml:1: unknown key `tiltflie` (did you mean `tiltfile`?)"],
        ),
        ("name: a\nNAME: b\n", &["/p/kilter.yaml:2: unknown key `NAME` (did you mean `name`?)"]),
        (
            "name: a\n\n# c\nservces: []\n",
            &["/p/kilter.yaml:4: unknown key `servces` (did you mean `services`?)"],
        ),
        ("Port: 80\n", &["/p/kilter.yaml:1: unknown key `Port` (did you mean `port`?)"]),
        (
            "databse:\n  user: x\n",
            &["/p/kilter.yaml:1: unknown key `databse` (did you mean `database`?)"],
        ),
        ("colour: red\n", &["/p/kilter.yaml:1: unknown key `colour`"]),
        // Too short to be "close" to `dev`.
        ("db: x\n", &["/p/kilter.yaml:1: unknown key `db`"]),
        ("123: x\n", &["/p/kilter.yaml:1: unknown key `123`"]),
        (
            "{name: a, clustr: {}}\n",
            &["/p/kilter.yaml:1: unknown key `clustr` (did you mean `cluster`?)"],
        ),
        (
            "name: a\r\nfoo: 1\r\nbar: 2\r\n",
            &["/p/kilter.yaml:2: unknown key `foo`", "/p/kilter.yaml:3: unknown key `bar`"],
        ),
        // Nested, inside kilter's own sections.
        (
            "name: a\ncluster:\n  stoped: true\n",
            &["/p/kilter.yaml:3: unknown key `cluster.stoped` (did you mean `cluster.stopped`?)"],
        ),
        (
            "kind:\n  img: x\n",
            &["/p/kilter.yaml:2: unknown key `kind.img` (did you mean `kind.image`?)"],
        ),
        (
            "database:\n  user: u\n  host: localhost\n  Name: x\n",
            &[
                "/p/kilter.yaml:3: unknown key `database.host`",
                "/p/kilter.yaml:4: unknown key `database.Name` (did you mean `database.name`?)",
            ],
        ),
        (
            "cluster: {stopped: false, zone: eu}\n",
            &["/p/kilter.yaml:1: unknown key `cluster.zone`"],
        ),
    ];
    for (text, expected) in cases {
        let (_, warnings) = parse_ok(text);
        assert_eq!(&warnings, expected, "{text:?}");
    }
}

#[test]
fn database_defaults() {
    let cases: &[(&str, Option<Database>)] = &[
        ("name: a\n", None),
        ("database:\n", Some(Database::default())),
        ("database: ~\n", Some(Database::default())),
        ("database: {}\n", Some(Database::default())),
        ("database:\n  # all defaults\n", Some(Database::default())),
        (
            "database:\n  service: pg\n",
            Some(Database { service: "pg".into(), ..Database::default() }),
        ),
        (
            "database:\n  engine: postgres\n  user: app\n  name: orders\n",
            Some(Database {
                user: "app".into(),
                name: Some("orders".into()),
                ..Database::default()
            }),
        ),
        ("database:\n  service:\n", Some(Database::default())),
    ];
    for (text, expected) in cases {
        assert_eq!(&parse_ok(text).0.database, expected, "{text:?}");
    }
    assert_eq!(
        Database::default(),
        Database {
            engine: Engine::Postgres,
            service: "postgres".into(),
            user: "postgres".into(),
            name: None
        }
    );
}

#[test]
fn other_fields_parse() {
    let (config, _) =
        parse_ok("tiltfile: deploy/Tiltfile.dev\nkind:\n  image: kindest/node:v1.30.0\n");
    assert_eq!(config.tiltfile, Some(Utf8PathBuf::from("deploy/Tiltfile.dev")));
    assert_eq!(config.kind.image.as_deref(), Some("kindest/node:v1.30.0"));
    for (text, expected) in [
        ("cluster:\n  stopped: true\n", true),
        ("cluster:\n  stopped: false\n", false),
        ("cluster:\n  stopped: True\n", true),
        ("cluster:\n  stopped:\n", false),
        ("cluster: {stopped: true}\n", true),
        ("cluster:\n", false),
        ("cluster: {}\n", false),
    ] {
        assert_eq!(parse_ok(text).0.cluster.stopped, expected, "{text:?}");
    }
}

/// Each malformed file: the exact `file:line:col: message` start, and the hint if any.
#[test]
fn malformed_files_are_errors_naming_file_line_and_column() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "name: shop\n# comment\nport: 80\n\ncluster: stopped\n",
            "/p/kilter.yaml:5:10: cluster: expected a mapping with `stopped: true|false`, found the string \"stopped\"",
            None,
        ),
        (
            "cluster:\n  stopped: yes\n",
            "/p/kilter.yaml:2:12: cluster.stopped: expected true or false, found the string \"yes\"",
            Some("kilter writes this flag itself: `kilter stop` sets it, `kilter up` removes it"),
        ),
        (
            "name: shop\nkind:\n  - image: kindest/node:v1.31.0\n",
            "/p/kilter.yaml:3:3: kind: expected a mapping with `image: <node image>`, found a list",
            None,
        ),
        ("database:\n- postgres\n", "/p/kilter.yaml:2:1: database: expected a mapping with", None),
        ("cluster: [stopped]\n", "/p/kilter.yaml:1:10: cluster: expected a mapping", None),
        (
            "name: 123\n",
            "/p/kilter.yaml:1:7: name: expected a string, found the number 123",
            Some("quote the value to make it a string: `name: \"123\"`"),
        ),
        (
            "name: true\n",
            "/p/kilter.yaml:1:7: name: expected a string, found the boolean `true`",
            None,
        ),
        (
            "port: 80\nname: My_App   # mine\n",
            "/p/kilter.yaml:2:7: invalid project name \"My_App\" (it contains uppercase letters): a project name must be a DNS-1123 label",
            Some("use `name: my-app`"),
        ),
        ("name: \"\"\n", "/p/kilter.yaml:1:7: invalid project name \"\" (it is empty)", None),
        (
            "name: -shop\n",
            "/p/kilter.yaml:1:7: invalid project name \"-shop\" (it starts with '-')",
            Some("use `name: shop`"),
        ),
        ("{name: [a]}\n", "/p/kilter.yaml:1:8: name: expected a string, found a list", None),
        (
            "name: !custom shop\n",
            "/p/kilter.yaml:1:7: name: expected a string, found a value tagged `!custom`",
            None,
        ),
        ("tiltfile: \"\"\n", "/p/kilter.yaml:1:11: tiltfile: must not be empty", None),
        (
            "tiltfile:\n  path: x\n",
            "/p/kilter.yaml:2:3: tiltfile: expected a string, found a mapping",
            None,
        ),
        (
            "kind:\n  image: 1.31\n",
            "/p/kilter.yaml:2:10: kind.image: expected a string, found the number 1.31",
            None,
        ),
        (
            "name: a\ndatabase:\n  engine: oracle   # nope\n",
            "/p/kilter.yaml:3:11: database.engine: unsupported engine \"oracle\"; kilter supports `postgres`, `mysql` and `mariadb`",
            Some("use `engine: postgres`, `engine: mysql` or `engine: mariadb`"),
        ),
        (
            "database:\n  user: [a]\n",
            "/p/kilter.yaml:2:9: database.user: expected a string, found a list",
            None,
        ),
        (
            "- name: shop\n",
            "/p/kilter.yaml:1:1: expected a mapping of settings at the top level (e.g. `name: shop`), found a list",
            None,
        ),
        (
            "# hello\njust some text\n",
            "/p/kilter.yaml:2:1: expected a mapping of settings at the top level",
            None,
        ),
        // Syntax errors come from libyaml, with its position.
        (
            "name: shop\nkind:\n  image: a\n   extra: b\n",
            "/p/kilter.yaml:4:9: invalid YAML: mapping values are not allowed in this context",
            Some(
                "check the indentation: keys of one mapping must start in the same column, and a value containing `: ` must be quoted",
            ),
        ),
        (
            "name: shop\ncluster:\n    stopped: true\n  other: 1\n",
            "/p/kilter.yaml:4:3: invalid YAML: did not find expected key",
            None,
        ),
        (
            "name: shop\nport: [80, 81\n",
            "/p/kilter.yaml:3:1: invalid YAML: expected ',' or ']', while parsing a flow sequence",
            None,
        ),
        (
            "name: \"shop\n",
            "/p/kilter.yaml:1:7: invalid YAML: found unexpected end of stream, while scanning a quoted scalar",
            None,
        ),
        (
            "image: a: b\n",
            "/p/kilter.yaml:1:9: invalid YAML: mapping values are not allowed in this context",
            None,
        ),
        (
            "kind:\n\timage: x\n",
            "/p/kilter.yaml:2:1: tab character in indentation; YAML indentation must use spaces",
            Some("replace the tabs at the start of this line with spaces"),
        ),
        (
            "kind:\n  image: x\n \tfoo: y\n",
            "/p/kilter.yaml:3:2: tab character in indentation",
            None,
        ),
        (
            "name: a\nport: 1\nname: b\n",
            "/p/kilter.yaml:3:1: duplicate key `name` (first defined on line 1)",
            Some("remove one of the two entries"),
        ),
        (
            "cluster:\n  stopped: true\n  # again\n  stopped: false\n",
            "/p/kilter.yaml:4:3: duplicate key `cluster.stopped` (first defined on line 2)",
            None,
        ),
        ("name: a\n---\nname: b\n", "/p/kilter.yaml:2:1: a second YAML document starts here", None),
        (
            "---\nname: a\n---\nname: b\n",
            "/p/kilter.yaml:3:1: a second YAML document starts here",
            None,
        ),
        ("name: a\r\ncluster: x\r\n", "/p/kilter.yaml:2:10: cluster: expected a mapping", None),
        ("ünïcode: 1\nname: 5\n", "/p/kilter.yaml:2:7: name: expected a string", None),
    ];
    for (text, prefix, hint) in cases {
        let err = parse_err(text);
        assert!(
            err.message.starts_with(prefix),
            "{text:?}:\n  got  {}\n  want {prefix}…",
            err.message
        );
        assert_eq!(err.to_string(), err.message);
        if let Some(hint) = hint {
            assert_eq!(err.hint.as_deref(), Some(*hint), "{text:?}");
        }
    }
}

/// Quoting makes a string: the hint to quote comes only where a string is expected.
#[test]
fn the_hint_to_quote_comes_only_where_a_string_is_expected() {
    let err = parse_err("port: 80.5\n");
    assert_eq!(
        err.message,
        "/p/kilter.yaml:1:7: port: expected a port number from 1 to 65535, found the number 80.5"
    );
    assert_eq!(err.hint, None);
    let err = parse_err("name: 80.5\n");
    assert_eq!(err.hint.as_deref(), Some("quote the value to make it a string: `name: \"80.5\"`"));
}

#[test]
fn an_invalid_name_error_states_the_rule() {
    let err = parse_err("name: My_App\n");
    assert_eq!(
        err.message,
        "/p/kilter.yaml:1:7: invalid project name \"My_App\" (it contains uppercase letters): a project name must \
         be a DNS-1123 label: 1 to 42 characters, only lowercase letters (a-z), digits and '-', starting and \
         ending with a letter or digit"
    );
    assert_eq!(err.hint.as_deref(), Some("use `name: my-app`"));
}

// ---------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------

#[test]
fn normalize_name_table() {
    let sixty = "a".repeat(60);
    let forty_one_then_dash = format!("{}_b", "a".repeat(41));
    let cases: &[(&str, Option<&str>)] = &[
        ("shop", Some("shop")),
        ("My_App", Some("my-app")),
        ("foo.bar baz", Some("foo-bar-baz")),
        ("--x--", Some("x")),
        ("ünï", Some("n")),
        (&sixty, Some(&sixty[..42])),
        // Cut at 42 lands right after a '-': trimmed again.
        (&forty_one_then_dash, Some(&forty_one_then_dash[..41])),
        ("___", None),
        ("", None),
        ("ü", None),
        ("a__b..c  d", Some("a-b-c-d")),
        ("Hello, World!", Some("hello-world")),
        ("v1.2.3", Some("v1-2-3")),
        ("UPPER", Some("upper")),
        ("tab\there", Some("tabhere")),
        ("-a-", Some("a")),
        ("日本-app", Some("app")),
    ];
    for (raw, expected) in cases {
        let got = normalize_name(raw);
        assert_eq!(got.as_deref(), *expected, "{raw:?}");
        if let Some(name) = &got {
            assert!(validate_name(name).is_ok(), "normalised {name:?} must be valid");
        }
    }
}

#[test]
fn validate_name_table() {
    let max = "a".repeat(42);
    let too_long = "a".repeat(43);
    for ok in ["a", "shop", "my-app", "a1", "1a", "123", "a-b-c", "x--y", max.as_str()] {
        assert!(validate_name(ok).is_ok(), "{ok:?} should be valid");
    }
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            &too_long,
            "it is 43 characters long, more than 42",
            Some("try `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`"),
        ),
        ("-shop", "it starts with '-'", Some("try `shop`")),
        ("shop-", "it ends with '-'", Some("try `shop`")),
        ("Shop", "it contains uppercase letters", Some("try `shop`")),
        ("shöp", "it contains non-ASCII characters", Some("try `shp`")),
        ("", "it is empty", None),
        ("my_app", "it contains '_'", Some("try `my-app`")),
        ("a.b", "it contains '.'", Some("try `a-b`")),
        ("-", "it starts with '-'", None),
        ("___", "it contains '_'", None),
    ];
    for (name, problem, hint) in cases {
        let Err(err) = validate_name(name) else { panic!("{name:?} should be invalid") };
        assert_eq!(err.message, format!("invalid project name {name:?} ({problem}): {NAME_RULE}"));
        assert!(err.message.contains("DNS-1123") && err.message.contains("42"), "states the rule");
        assert_eq!(err.hint.as_deref(), *hint, "{name:?}");
    }
}

// ---------------------------------------------------------------------------------------
// registry, database.engine, services
// ---------------------------------------------------------------------------------------

#[test]
fn service_http_is_true_false_or_unset() {
    for (value, want) in [("true", Some(true)), ("false", Some(false)), ("", None)] {
        let text = format!("services:\n  - name: mailpit\n    http: {value}\n");
        assert_eq!(parse_ok(&text).0.services[0].http, want, "{text:?}");
    }
    let err = parse_err("services:\n  - name: mailpit\n    http: yes please\n");
    assert_eq!(err.code, Code::Invalid);
    assert!(err.message.contains("services[0].http"), "{}", err.message);
}

#[test]
fn registry_and_engine() {
    for (text, registry) in [
        ("name: a\n", true),
        ("registry:\n", true),
        ("registry: true\n", true),
        ("registry: false\n", false),
        ("registry: False  # off\n", false),
    ] {
        assert_eq!(parse_ok(text).0.registry, registry, "{text:?}");
        let routed = text.replace("registry", "router");
        assert_eq!(parse_ok(&routed).0.router, registry, "{routed:?}");
    }
    for (text, engine) in [
        ("database:\n  engine: postgres\n", Engine::Postgres),
        ("database:\n  engine: mysql\n", Engine::Mysql),
        ("database:\n  engine: mariadb\n", Engine::Mariadb),
        ("database:\n  engine:\n", Engine::Postgres),
    ] {
        let db = parse_ok(text).0.database.expect("a database section");
        assert_eq!(db.engine, engine, "{text:?}");
    }
    assert_eq!(Engine::Mariadb.to_string(), "mariadb");
    // MySQL/MariaDB: service and user default to the engine's name and root.
    for (text, service, user) in [
        ("database:\n  engine: mariadb\n", "mariadb", "root"),
        ("database:\n  engine: mysql\n  user: app\n", "mysql", "app"),
        ("database:\n  service: db\n  engine: mysql\n", "db", "root"),
        ("database:\n  engine: postgres\n", "postgres", "postgres"),
    ] {
        let db = parse_ok(text).0.database.expect("a database section");
        assert_eq!((db.service.as_str(), db.user.as_str()), (service, user), "{text:?}");
    }
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "registry: no\n",
            "/p/kilter.yaml:1:11: registry: expected true or false, found the string \"no\"",
            Some("`registry: false` keeps this project off the machine's shared local registry"),
        ),
        (
            "registry: [a]\n",
            "/p/kilter.yaml:1:11: registry: expected true or false, found a list",
            None,
        ),
        (
            "database:\n  engine: postgresql\n",
            "/p/kilter.yaml:2:11: database.engine: unsupported engine \"postgresql\"; kilter supports `postgres`, `mysql` and `mariadb`",
            Some("did you mean `engine: postgres`?"),
        ),
        (
            "database:\n  engine: MySQL\n",
            "/p/kilter.yaml:2:11: database.engine: unsupported engine \"MySQL\"",
            Some("did you mean `engine: mysql`?"),
        ),
    ];
    for (text, message, hint) in cases {
        let err = parse_err(text);
        assert!(
            err.message.starts_with(message),
            "{text:?}:\n  got  {}\n  want {message}…",
            err.message
        );
        if let Some(hint) = hint {
            assert_eq!(err.hint.as_deref(), Some(*hint), "{text:?}");
        }
    }
}

fn at(line: usize, col: usize) -> Pos {
    Pos { line, col }
}

#[test]
fn services_are_typed_with_positions() {
    let text = "\
name: shop
services:
  - postgres
  - name: redis
    image: redis:7
    port: 6379
    env:
      MAXMEMORY: 64mb
      PORT: 6379
      APPENDONLY: true
      EMPTY:
      QUOTED: \"yes\"
    provides:
      REDIS_URL: redis://redis.{{ .Namespace }}.svc:{{ .Port }}
    volume: {path: /data, size: 1Gi}
  - name: mail
    image: axllent/mailpit
    volume: false
  - name: minio
    volume: /export
";
    let (config, warnings) = parse_ok(text);
    assert!(warnings.is_empty(), "{warnings:?}");
    let [postgres, redis, mail, minio] = &config.services[..] else {
        panic!("four services: {:?}", config.services)
    };
    assert_eq!(
        postgres,
        &ServiceEntry {
            at: at(3, 5),
            bare: true,
            name: At { value: "postgres".into(), at: at(3, 5) },
            image: None,
            port: None,
            env: vec![],
            provides: vec![],
            volume: None,
            http: None,
        }
    );
    assert_eq!((redis.at, redis.bare), (at(4, 5), false));
    assert_eq!(redis.name, At { value: "redis".into(), at: at(4, 11) });
    assert_eq!(redis.image, Some(At { value: "redis:7".into(), at: at(5, 12) }));
    assert_eq!(redis.port, Some(At { value: 6379, at: at(6, 11) }));
    let env: Vec<(&str, &str, Pos)> =
        redis.env.iter().map(|v| (v.name.as_str(), v.value.as_str(), v.at)).collect();
    assert_eq!(
        env,
        [
            ("MAXMEMORY", "64mb", at(8, 7)),
            ("PORT", "6379", at(9, 7)),
            ("APPENDONLY", "true", at(10, 7)),
            ("EMPTY", "", at(11, 7)),
            ("QUOTED", "yes", at(12, 7)),
        ]
    );
    assert_eq!(
        redis.provides,
        [Var {
            name: "REDIS_URL".into(),
            value: "redis://redis.{{ .Namespace }}.svc:{{ .Port }}".into(),
            at: at(14, 7)
        }]
    );
    assert_eq!(
        redis.volume,
        Some(At {
            value: Volume::Mount { path: Some("/data".into()), size: Some("1Gi".into()) },
            at: at(15, 13)
        })
    );
    assert_eq!(mail.volume.as_ref().map(|v| &v.value), Some(&Volume::Off));
    assert_eq!(
        minio.volume.as_ref().map(|v| &v.value),
        Some(&Volume::Mount { path: Some("/export".into()), size: None })
    );
    // Absent, empty, null: no services.
    for text in ["name: a\n", "services:\n", "services: ~\n", "services: []\n", "services: null\n"]
    {
        assert_eq!(parse_ok(text).0.services, vec![], "{text:?}");
    }
    // Flow style, aliases, a `port` in hex.
    let (config, _) = parse_ok(
        "x: &r {name: redis, port: 0x18eb}\nservices: [postgres, *r, {name: api, volume: {size: 500Mi}}]\n",
    );
    let names: Vec<&str> = config.services.iter().map(|s| s.name.value.as_str()).collect();
    assert_eq!(names, ["postgres", "redis", "api"]);
    assert_eq!(config.services[1].port.as_ref().map(|p| p.value), Some(6379));
    assert_eq!(
        config.services[2].volume.as_ref().map(|v| &v.value),
        Some(&Volume::Mount { path: None, size: Some("500Mi".into()) })
    );
    // A null size is the default size, like an absent one.
    let (config, _) = parse_ok("services:\n  - name: api\n    volume: {path: /data, size: ~}\n");
    assert_eq!(
        config.services[0].volume.as_ref().map(|v| &v.value),
        Some(&Volume::Mount { path: Some("/data".into()), size: None })
    );
}

#[test]
fn service_errors_point_at_the_item_or_field() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "services:\n  postgres:\n    image: postgres:16\n",
            "/p/kilter.yaml:2:3: services: expected a list of services, found a mapping",
            Some(
                "list each service as an item: a catalog name or a mapping, e.g.\n  services:\n    - redis\n    - name: api\n      image: ghcr.io/acme/api:dev",
            ),
        ),
        (
            "services: redis\n",
            "/p/kilter.yaml:1:11: services: expected a list of services, found the string \"redis\"",
            None,
        ),
        (
            "services:\n  - [redis]\n",
            "/p/kilter.yaml:2:5: services[0]: expected a catalog service name or a mapping with `name`, found a list",
            None,
        ),
        (
            "services:\n  - 5432\n",
            "/p/kilter.yaml:2:5: services[0]: expected a catalog service name or a mapping with `name`, found the number 5432",
            None,
        ),
        (
            "services:\n  - Redis\n",
            "/p/kilter.yaml:2:5: services[0]: invalid service name \"Redis\" (it contains uppercase letters): a service name must be a DNS-1123 label",
            Some("use `redis`"),
        ),
        (
            "services:\n  - image: x\n",
            "/p/kilter.yaml:2:5: services[0]: a service mapping needs a `name`",
            Some("e.g. `- name: api` (a catalog name alone is written `- redis`)"),
        ),
        (
            "services:\n  - name: \"\"\n",
            "/p/kilter.yaml:2:11: services[0].name: must not be empty",
            None,
        ),
        (
            &format!("services:\n  - name: {}\n", "a".repeat(43)),
            "/p/kilter.yaml:2:11: services[0]: invalid service name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" (it is 43 characters long, more than 42)",
            None,
        ),
        (
            "services:\n  - redis\n  - name: api\n    imgae: x\n",
            "/p/kilter.yaml:4:5: services[1]: unknown key `imgae` (did you mean `image`?)",
            Some("the keys here are `name`, `image`, `port`, `env`, `provides`, `volume`, `http`"),
        ),
        (
            "services:\n  - name: api\n    build: .\n",
            "/p/kilter.yaml:3:5: services[0]: unknown key `build`",
            None,
        ),
        (
            "services:\n  - redis\n  - postgres\n  - name: redis\n    port: 1\n",
            "/p/kilter.yaml:4:11: services[2]: duplicate service `redis` (first listed on line 2)",
            Some("list each service once"),
        ),
        (
            "services: [redis, redis]\n",
            "/p/kilter.yaml:1:19: services[1]: duplicate service `redis` (first listed on line 1)",
            None,
        ),
        (
            "services:\n  - name: api\n    port: 0\n",
            "/p/kilter.yaml:3:11: services[0].port: expected a port number from 1 to 65535, found the number 0",
            None,
        ),
        (
            "services:\n  - name: api\n    port: 70000\n",
            "/p/kilter.yaml:3:11: services[0].port: expected a port number from 1 to 65535, found the number 70000",
            None,
        ),
        (
            "services:\n  - name: api\n    port: \"8080\"\n",
            "/p/kilter.yaml:3:11: services[0].port: expected a port number from 1 to 65535, found the string \"8080\"",
            None,
        ),
        (
            "services:\n  - name: api\n    port: 80.5\n",
            "/p/kilter.yaml:3:11: services[0].port: expected a port number from 1 to 65535, found the number 80.5",
            None,
        ),
        (
            "services:\n  - name: api\n    image: 7\n",
            "/p/kilter.yaml:3:12: services[0].image: expected a string, found the number 7",
            Some("quote the value to make it a string: `image: \"7\"`"),
        ),
        (
            "services:\n  - name: api\n    env: [A=1]\n",
            "/p/kilter.yaml:3:10: services[0].env: expected a mapping of `NAME: value`, found a list",
            None,
        ),
        (
            "services:\n  - name: api\n    env:\n      A: [1]\n",
            "/p/kilter.yaml:4:10: services[0].env.A: expected a single value (string, number or boolean), found a list",
            None,
        ),
        (
            "services:\n  - name: api\n    env:\n      1: x\n",
            "/p/kilter.yaml:4:7: services[0].env: expected variable names that are strings, found the number 1",
            None,
        ),
        (
            "services:\n  - name: api\n    env:\n      \"\": x\n",
            "/p/kilter.yaml:4:7: services[0].env: expected variable names that are strings, found the string \"\"",
            None,
        ),
        (
            "services:\n  - name: api\n    provides:\n      PORT: 80\n",
            "/p/kilter.yaml:4:13: services[0].provides.PORT: expected a string, found the number 80",
            Some("quote the value to make it a string: `PORT: \"80\"`"),
        ),
        (
            "services:\n  - name: api\n    provides:\n      URL:\n",
            "/p/kilter.yaml:4:11: services[0].provides.URL: expected a string, found nothing (null)",
            None,
        ),
        (
            // An empty value is right after its key's `:`, a blank before the `:` or not.
            "services:\n  - name: api\n    provides:\n      URL :  # later\n",
            "/p/kilter.yaml:4:12: services[0].provides.URL: expected a string, found nothing (null)",
            None,
        ),
        (
            "services:\n  - name: api\n    volume: true\n",
            "/p/kilter.yaml:3:13: services[0].volume: expected `false`, an absolute mount path or a mapping with `path` and `size`, found the boolean `true`",
            None,
        ),
        (
            "services:\n  - name: api\n    volume: data\n",
            "/p/kilter.yaml:3:13: services[0].volume: the mount path must be absolute, found \"data\"",
            Some("e.g. `/var/lib/postgresql/data`; `volume: false` for no volume"),
        ),
        (
            "services:\n  - name: api\n    volume:\n      path: /data\n      sise: 1Gi\n",
            "/p/kilter.yaml:5:7: services[0].volume: unknown key `sise` (did you mean `size`?)",
            Some("the keys here are `path`, `size`"),
        ),
        (
            "services:\n  - name: api\n    volume: {size: big}\n",
            "/p/kilter.yaml:3:20: services[0].volume.size: expected a size such as `1Gi` or `500Mi`, found the string \"big\"",
            Some("sizes are Kubernetes quantities: a number with Ki, Mi, Gi, Ti (or k, M, G, T)"),
        ),
        (
            "services:\n  - name: api\n    volume: {size: 0Gi}\n",
            "/p/kilter.yaml:3:20: services[0].volume.size: expected a size",
            None,
        ),
        (
            "services:\n  - name: api\n    volume: {path: data}\n",
            "/p/kilter.yaml:3:20: services[0].volume.path: the mount path must be absolute",
            None,
        ),
    ];
    for (text, message, hint) in cases {
        let err = parse_err(text);
        assert_eq!(err.code, Code::Invalid);
        assert!(
            err.message.starts_with(message),
            "{text:?}:\n  got  {}\n  want {message}…",
            err.message
        );
        if let Some(hint) = hint {
            assert_eq!(err.hint.as_deref(), Some(*hint), "{text:?}");
        }
    }
    // Sizes that are fine.
    for size in ["1Gi", "500Mi", "1.5Gi", "10", "2T", "100k"] {
        let text = format!("services:\n  - name: api\n    volume: {{size: {size}}}\n");
        assert!(parse(path(), &text).is_ok(), "{size}");
    }
}

#[test]
fn suggest_uses_edit_distance() {
    let services = ["postgres", "redis", "mailpit", "nats", "rabbitmq", "minio"];
    assert_eq!(suggest("redsi", &services), Some("redis"));
    assert_eq!(suggest("REDIS", &services), Some("redis"));
    assert_eq!(suggest("postgress", &services), Some("postgres"));
    assert_eq!(suggest("kafka", &services), None);
    assert_eq!(suggest("na", &services), None);
}

// ---------------------------------------------------------------------------------------
// The app's fields
// ---------------------------------------------------------------------------------------

/// The tests compare whole `Config`s (the edit tables check that an edit changed nothing else),
/// so the app section's equality must see every field, and no position.
#[test]
fn app_sections_are_equal_by_their_values_not_their_positions() {
    let (app, _) = parse_ok(APP);
    let moved = format!(
        "# first\n\n{}",
        APP.replace("image: node:22-alpine   #", "image: node:22-alpine #")
    );
    assert_eq!(parse_ok(&moved).0.app, app.app);
    for (from, to) in [
        ("image: node:22-alpine", "image: node:20-alpine"),
        ("dev: npm run dev", "dev: npm run serve"),
        ("port: 4000", "port: 4001"),
        ("health: /healthz", "health: /ready"),
        ("WORKERS: 2", "WORKERS: 3"),
        ("sync: [src, public]", "sync: [src]"),
    ] {
        let changed = parse_ok(&APP.replace(from, to)).0;
        assert_ne!(changed.app, app.app, "{to}");
    }
}

#[test]
fn the_app_fields_parse_with_their_positions() {
    let (config, warnings) = parse_ok(APP);
    assert!(warnings.is_empty(), "{warnings:?}");
    let app = &config.app;
    let image = app.image.as_ref().expect("image");
    assert_eq!((image.value.as_str(), image.at), ("node:22-alpine", Pos { line: 2, col: 8 }));
    let dev = app.dev.as_ref().expect("dev");
    assert_eq!(dev.value, DevCommand::Shell("npm run dev -- --port 4000".into()));
    assert_eq!(dev.at, Pos { line: 3, col: 6 });
    assert_eq!(app.port.as_ref().map(|p| (p.value, p.at)), Some((4000, Pos { line: 4, col: 7 })));
    assert_eq!(app.health.as_ref().map(|h| h.value.as_str()), Some("/healthz"));
    let env: Vec<(&str, &str)> =
        app.env.iter().map(|v| (v.name.as_str(), v.value.as_str())).collect();
    assert_eq!(env, [("LOG_LEVEL", "debug"), ("WORKERS", "2"), ("EMPTY", "")]);
    assert_eq!(
        app.sync.as_ref().map(|s| s.value.clone()),
        Some(vec!["src".into(), "public".into()])
    );
    // Every field is optional; a file without them declares no app.
    let (config, _) = parse_ok("name: shop\n");
    assert_eq!(config.app, AppSection::default());
    // `dev` as a list of arguments; `sync` as one path; null values are "not set".
    let (config, _) = parse_ok("dev: [python, -m, flask, run, --port, 5000]\nsync: app\nport: ~\n");
    assert_eq!(
        config.app.dev.map(|d| d.value),
        Some(DevCommand::Argv(
            ["python", "-m", "flask", "run", "--port", "5000"].map(String::from).to_vec()
        ))
    );
    assert_eq!(config.app.sync.map(|s| s.value), Some(vec!["app".to_owned()]));
    assert_eq!(config.app.port, None);
    // Port spellings the other `port:` fields accept.
    for (text, port) in [("port: 0x1f90\n", 8080), ("port: +80\n", 80), ("port: 65535\n", 65535)] {
        assert_eq!(parse_ok(text).0.app.port.map(|p| p.value), Some(port), "{text:?}");
    }
}

#[test]
fn a_wrong_app_field_is_an_error_at_its_line_and_column() {
    let cases: &[(&str, &str)] = &[
        (
            "name: shop\nport: http\n",
            "/p/kilter.yaml:2:7: port: expected a port number from 1 to 65535, found the string \"http\"",
        ),
        (
            "port: 70000\n",
            "/p/kilter.yaml:1:7: port: expected a port number from 1 to 65535, found the number 70000",
        ),
        (
            "port: 0\n",
            "/p/kilter.yaml:1:7: port: expected a port number from 1 to 65535, found the number 0",
        ),
        (
            "port: -1\n",
            "/p/kilter.yaml:1:7: port: expected a port number from 1 to 65535, found the number -1",
        ),
        ("port: 80.5\n", "/p/kilter.yaml:1:7: port: expected a port number from 1 to 65535"),
        (
            "health: healthz\n",
            "/p/kilter.yaml:1:9: health: expected an HTTP path starting with `/` (e.g. `/healthz`), found \"healthz\"",
        ),
        (
            "health: http://localhost/healthz\n",
            "/p/kilter.yaml:1:9: health: expected an HTTP path starting with `/`",
        ),
        ("health: /a b\n", "/p/kilter.yaml:1:9: health: expected an HTTP path"),
        (
            "\nhealth:\n  path: /healthz\n",
            "/p/kilter.yaml:3:3: health: expected an HTTP path such as `/healthz`, found a mapping",
        ),
        ("health: 200\n", "/p/kilter.yaml:1:9: health: expected a string, found the number 200"),
        (
            "env: [A, B]\n",
            "/p/kilter.yaml:1:6: env: expected a mapping of `NAME: value`, found a list",
        ),
        (
            "name: x\nenv: LOG=debug\n",
            "/p/kilter.yaml:2:6: env: expected a mapping of `NAME: value`, found the string \"LOG=debug\"",
        ),
        (
            "env:\n  A: [1, 2]\n",
            "/p/kilter.yaml:2:6: env.A: expected a single value (string, number or boolean), found a list",
        ),
        ("image: 3\n", "/p/kilter.yaml:1:8: image: expected a string, found the number 3"),
        ("image: \"\"\n", "/p/kilter.yaml:1:8: image: must not be empty"),
        (
            "image: \"node:22\\nRUN rm -rf /\"\n",
            "/p/kilter.yaml:1:8: image: \"node:22\\nRUN rm -rf /\" is not an image reference",
        ),
        (
            "image: node 22\n",
            "/p/kilter.yaml:1:8: image: \"node 22\" is not an image reference (it contains spaces",
        ),
        (
            "dev: {command: run}\n",
            "/p/kilter.yaml:1:6: dev: expected a command line (e.g. `npm run dev`) or a list of arguments, found a mapping",
        ),
        ("dev: []\n", "/p/kilter.yaml:1:6: dev: the list of arguments is empty"),
        ("dev: [npm, [run]]\n", "/p/kilter.yaml:1:12: dev[1]: expected a string, found a list"),
        (
            "sync: [../common]\n",
            "/p/kilter.yaml:1:8: sync[0]: \"../common\" is not inside the project",
        ),
        ("sync: /etc\n", "/p/kilter.yaml:1:7: sync: \"/etc\" is not inside the project directory"),
        (
            "sync: {src: .}\n",
            "/p/kilter.yaml:1:7: sync: expected a list of paths inside the project",
        ),
        ("sync: [src, 3]\n", "/p/kilter.yaml:1:13: sync[1]: expected a string, found the number 3"),
    ];
    for (text, message) in cases {
        let err = parse_err(text);
        assert_eq!(err.code, Code::Invalid, "{text:?}");
        assert!(err.to_string().starts_with(message), "{text:?}:\n  got  {err}\n  want {message}");
    }
}

// ---------------------------------------------------------------------------------------
// routes:
// ---------------------------------------------------------------------------------------

#[test]
fn routes_parse_in_file_order_with_positions() {
    let (config, warnings) = parse_ok(ROUTES);
    assert!(warnings.is_empty(), "{warnings:?}");
    let got: Vec<(&str, &str, u16, Pos)> = config
        .routes
        .iter()
        .map(|r| (r.name.value.as_str(), r.service.value.as_str(), r.port.value, r.name.at))
        .collect();
    assert_eq!(
        got,
        [
            ("web", "web", 80, Pos { line: 4, col: 3 }),
            ("api-v2", "api", 8080, Pos { line: 5, col: 3 })
        ]
    );
    assert_eq!(config.routes[1].port.at, Pos { line: 7, col: 11 });
    for empty in ["routes:\n", "routes: ~\n", "routes: {}\n"] {
        assert!(parse_ok(empty).0.routes.is_empty(), "{empty:?}");
    }
    // A route named `app` parses: it names the app where kilter renders none (`up` refuses it
    // beside a rendered app).
    let (config, _) = parse_ok("routes:\n  app: {service: web, port: 80}\n");
    assert_eq!(config.routes[0].name.value, "app");
}

#[test]
fn bad_routes_are_exit_4_at_their_position() {
    for (text, wanted) in [
        ("routes: [web]\n", "kilter.yaml:1:9: routes: expected a mapping of route names"),
        (
            "routes:\n  web: web\n",
            "kilter.yaml:2:8: routes.web: expected a mapping with `service` and `port`",
        ),
        ("routes:\n  web: {port: 80}\n", "kilter.yaml:2:8: routes.web: a route needs `service`"),
        (
            "routes:\n  web: {service: 3, port: 80}\n",
            "kilter.yaml:2:18: routes.web.service: expected the name of a Service",
        ),
        ("routes:\n  web: {service: web}\n", "kilter.yaml:2:8: routes.web: a route needs `port`"),
        (
            "routes:\n  web: {service: web, port: 0}\n",
            "kilter.yaml:2:29: routes.web.port: expected a port number from 1 to 65535",
        ),
        (
            "routes:\n  web: {service: web, port: 65536}\n",
            "routes.web.port: expected a port number from 1 to 65535",
        ),
        ("routes:\n  web: {service: web, port: http}\n", "routes.web.port: expected a port number"),
        (
            "routes:\n  Web_1: {service: web, port: 80}\n",
            "kilter.yaml:2:3: routes.Web_1: invalid route name",
        ),
        (
            "routes:\n  web: {service: web, port: 80, path: /}\n",
            "kilter.yaml:2:33: routes.web: unknown key `path`",
        ),
        (
            "routes:\n  redis: {service: web, port: 80}\nservices:\n  - redis\n",
            "kilter.yaml:2:3: routes.redis: the name clashes with service `redis` at line 4, column 5",
        ),
        // A key that is an alias is named as such, not as what it points to.
        (
            "x: &k web\nroutes:\n  *k : {service: web, port: 80}\n",
            "kilter.yaml:3:3: routes: a route's name must be a string, found an alias",
        ),
        ("routes:\n  [a]: {service: web, port: 80}\n", "must be a string, found a list"),
        ("routes:\n  {a: 1}: {service: web, port: 80}\n", "must be a string, found a mapping"),
    ] {
        let err = parse_err(text);
        assert_eq!(err.code, Code::Invalid, "{text:?}");
        assert!(err.to_string().contains(wanted), "{text:?}: {err}");
    }
}
