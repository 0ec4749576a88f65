use super::schema::{ECOSYSTEM_KEYS, NAME_RULE};
use super::*;
use crate::error::Code;

const PATH: &str = "/p/kilter.yaml";

fn path() -> &'static Utf8Path {
    Utf8Path::new(PATH)
}

#[track_caller]
fn parse_ok(text: &str) -> (Config, Vec<String>) {
    match parse(path(), text) {
        Ok(parsed) => parsed,
        Err(err) => panic!("{text:?} should parse, got: {err}"),
    }
}

#[track_caller]
fn parse_err(text: &str) -> Exit {
    match parse(path(), text) {
        Ok(parsed) => panic!("{text:?} should not parse, got: {parsed:?}"),
        Err(err) => err,
    }
}

fn stopped(mut config: Config, stopped: bool) -> Config {
    config.cluster.stopped = stopped;
    config
}

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

const SPEC_EXAMPLE: &str = "\
name: shop                 # project name (§1)
tiltfile: Tiltfile         # default ./Tiltfile next to kilter.yaml
kind:
  image: kindest/node:v1.31.0   # optional node image pin, passed to kind --image
database:                  # what `kilter db` snapshots; defaults shown
  engine: postgres         # only postgres in v1
  service: postgres        # Deployment or StatefulSet in <name>-dev
  user: postgres
  name: shop               # default: the project name
cluster:
  stopped: true            # written by `kilter stop`, removed by `kilter up`
";

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

/// A realistic, heavily documented kilter.yaml using the wider ecosystem's fields.
const DOCUMENTED: &str = r#"# kilter.yaml for the shop service
#
# `image`, `dev`, `port`, `health`, `env` and `sync` describe the app; fields
# such as `skills` or `build` belong to other tools of the kilter ecosystem and
# kilter keeps them as they are.

name: shop
description: |
  The shop backend: catalogue, cart and checkout.

  Owned by the storefront team.
version: 3
port: 8080                  # HTTP port inside the pod
health: /healthz            # readiness probe path
image: rust:1.83
dev: ["cargo", "watch", "-x", "run"]
sync:
  - src
  - Cargo.toml
skills: [rust, postgres]
services:
  - name: postgres
    image: postgres:16
    env:
      POSTGRES_PASSWORD: "dev only: not secret"
  - name: redis
    image: redis:7
env:
  RUST_LOG: info,shop=debug
  DATABASE_URL: postgres://postgres@postgres/shop
public: false
manifest: k8s/
profiles: {ci: {replicas: 1}, demo: {replicas: 2}}
secrets: []
volumes:
  data: {size: 1Gi}
build:
  context: .
  dockerfile: Dockerfile
deploy: {strategy: rolling}
hooks:
  pre-up: ./scripts/seed.sh
tilt:
  args: ["--stream"]

# The database kilter snapshots with `kilter db`.
database:
  service: postgres   # StatefulSet in shop-dev
"#;

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
// Positions
// ---------------------------------------------------------------------------------------

/// What to find at the end of a key path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Key,
    Value,
}

/// Position of the node at `keys` (`[]`: the root) in the span tree; `None` if the path does
/// not exist or the text does not parse.
fn locate(text: &str, keys: &[&str], target: Target) -> Option<(usize, usize)> {
    let tree = span::parse(text).ok()?;
    let mut node = tree.root.as_ref()?;
    let mut key_pos = node.pos;
    for key in keys {
        let (k, v) = node.get(key)?;
        key_pos = k.pos;
        node = v;
    }
    let pos = if target == Target::Key { key_pos } else { node.pos };
    Some((pos.line, pos.col))
}

#[test]
fn spans_give_keys_and_values_in_every_style() {
    let t = Target::Key;
    let v = Target::Value;
    type Case<'a> = (&'a str, &'a [&'a str], Target, Option<(usize, usize)>);
    let cases: &[Case<'_>] = &[
        ("name: x\ncluster:\n  stopped: true\n", &["cluster"], t, Some((2, 1))),
        ("name: x\ncluster:\n  stopped: true\n", &["cluster"], v, Some((3, 3))),
        ("name: x\ncluster:\n  stopped: true\n", &["cluster", "stopped"], t, Some((3, 3))),
        ("name: x\ncluster:\n  stopped: true\n", &["cluster", "stopped"], v, Some((3, 12))),
        ("# c\n\nname: x\n", &[], v, Some((3, 1))),
        ("---\nname: x\n", &[], v, Some((2, 1))),
        ("  name: x\n  port: 1\n", &["port"], t, Some((2, 3))),
        (
            "cluster:  # c\n\n    # c\n    stopped: false\n",
            &["cluster", "stopped"],
            v,
            Some((4, 14)),
        ),
        ("cluster: {stopped: false, a: 1}\n", &["cluster", "stopped"], v, Some((1, 20))),
        ("cluster: {stopped: false, a: 1}\n", &["cluster", "a"], t, Some((1, 27))),
        ("cluster: {stopped: false, a: 1}\n", &["cluster"], v, Some((1, 10))),
        ("\"cluster\":\n  'stopped': true\n", &["cluster", "stopped"], t, Some((2, 3))),
        ("a: 1\r\nb:\r\n  c: 2\r\n", &["b", "c"], v, Some((3, 6))),
        ("a: 1\rb:\r  c: 2\r", &["b", "c"], v, Some((3, 6))),
        ("ünï: x\nb: 1\n", &["b"], v, Some((2, 4))),
        ("a: &x\n  b: 1\n", &["a"], v, Some((1, 4))),
        ("a: !!map\n  b: 1\n", &["a"], v, Some((1, 4))),
        ("a:\n- 1\n", &["a"], v, Some((2, 1))),
        ("a:\n  -   1\n", &["a"], v, Some((2, 3))),
        ("a:\n  - b: 1\n", &["a"], v, Some((2, 3))),
        ("a: |\n  text\n", &["a"], v, Some((2, 3))),
        ("a:\nb: 1\n", &["a"], v, Some((1, 3))),
        ("name: x\n", &["cluster"], t, None),
        ("name: x\n", &["name", "deeper"], t, None),
        ("bad: [\n", &["bad"], t, None),
    ];
    for (text, keys, target, expected) in cases {
        assert_eq!(locate(text, keys, *target), *expected, "{text:?} {keys:?} {target:?}");
    }
}

#[test]
fn span_tree_knows_styles_anchors_and_aliases() {
    let tree = span::parse("a: &x {b: 1}\nc: *x\nd: [1]\ne:\n  f: 1\n").expect("parses");
    let root = tree.root.as_ref().expect("a root");
    let (_, a) = root.get("a").expect("a");
    let (_, c) = root.get("c").expect("c");
    assert!(a.is_flow() && a.anchor != 0);
    assert!(matches!(c.kind, span::Kind::Alias(id) if id == a.anchor));
    assert!(tree.deref(c).same(a));
    assert_eq!(tree.aliases, vec![(a.anchor, Pos { line: 2, col: 4 })]);
    assert!(root.get("d").is_some_and(|(_, d)| d.is_flow()));
    assert!(root.get("e").is_some_and(|(_, e)| !e.is_flow()));
    // Byte spans: exact for scalars and flow collections, to the last child for blocks.
    let text = "k: 'q'  # c\nm: {x: 1}\nb:\n  y: 2\n  z: 3\n\n";
    let tree = span::parse(text).expect("parses");
    let root = tree.root.as_ref().expect("a root");
    let span_of = |key: &str| root.get(key).map(|(_, v)| &text[v.start..v.end]);
    assert_eq!(span_of("k"), Some("'q'"));
    assert_eq!(span_of("m"), Some("{x: 1}"));
    assert_eq!(span_of("b"), Some("y: 2\n  z: 3"));
    // A second document, nesting too deep.
    let deep = format!("a: {}{}\n", "[".repeat(70), "]".repeat(70));
    let problem = span::parse(&deep).expect_err("too deep");
    assert!(problem.message.contains("nested more than 64 levels"), "{}", problem.message);
}

#[test]
fn core_schema_resolution() {
    use span::Scalar;
    let cases: &[(&str, Scalar<'_>)] = &[
        ("a: ~", Scalar::Null),
        ("a: null", Scalar::Null),
        ("a: NULL", Scalar::Null),
        ("a:", Scalar::Null),
        ("a: True", Scalar::Bool(true)),
        ("a: FALSE", Scalar::Bool(false)),
        ("a: yes", Scalar::Str("yes")),
        ("a: 5432", Scalar::Number("5432")),
        ("a: -1.5e3", Scalar::Number("-1.5e3")),
        ("a: 0x1f", Scalar::Number("0x1f")),
        ("a: 0o17", Scalar::Number("0o17")),
        ("a: .inf", Scalar::Number(".inf")),
        ("a: .NaN", Scalar::Number(".NaN")),
        ("a: 1.", Scalar::Number("1.")),
        ("a: 1e", Scalar::Str("1e")),
        ("a: 1.2.3", Scalar::Str("1.2.3")),
        ("a: 0x", Scalar::Str("0x")),
        ("a: '5432'", Scalar::Str("5432")),
        ("a: \"true\"", Scalar::Str("true")),
        ("a: !!str 5432", Scalar::Str("5432")),
        ("a: ! 5432", Scalar::Str("5432")),
        ("a: !!int 5432", Scalar::Number("5432")),
        ("a: !custom x", Scalar::Tagged("!custom")),
    ];
    for (text, expected) in cases {
        let tree = span::parse(text).expect("parses");
        let value = tree.root.as_ref().and_then(|r| r.get("a")).map(|(_, v)| v.scalar());
        assert_eq!(value, Some(Some(*expected)), "{text:?}");
    }
    for (word, written) in [
        ("shop", "shop"),
        ("123", "\"123\""),
        ("true", "\"true\""),
        ("null", "\"null\""),
        ("1e3", "\"1e3\""),
        ("-x", "\"-x\""),
        ("a b", "\"a b\""),
    ] {
        assert_eq!(span::scalar_text(word), written, "{word:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Editing the stopped flag
// ---------------------------------------------------------------------------------------

#[track_caller]
fn with(text: &str) -> String {
    set_stopped(path(), text).unwrap_or_else(|err| panic!("set_stopped({text:?}): {err}")).text
}

#[track_caller]
fn without(text: &str) -> String {
    clear_stopped(path(), text, None).unwrap_or_else(|err| panic!("clear_stopped({text:?}): {err}"))
}

/// The config invariant: the edit changes `cluster.stopped` and nothing else.
#[track_caller]
fn assert_only_flag_changed(before: &str, after: &str, flag: bool) {
    let (old, _) = parse_ok(before);
    let (new, _) = parse_ok(after);
    assert_eq!(new, stopped(old, flag), "{before:?} -> {after:?}");
    let tree = |text: &str| parse_full(path(), text).expect("parses").tree;
    let (old_tree, new_tree) = (tree(before), tree(after));
    let same = match (edit::without_flag(&old_tree), edit::without_flag(&new_tree)) {
        (None, None) => true,
        (Some(a), Some(b)) => a.same(&b),
        _ => false,
    };
    assert!(same, "the tree changed beyond the flag: {before:?} -> {after:?}");
}

/// Files without `cluster:`: with() appends, without() restores the exact bytes.
#[test]
fn round_trip_files_without_cluster() {
    let documented_with = format!("{DOCUMENTED}cluster:\n  stopped: true\n");
    let crlf = "name: shop\r\n# port\r\nport: 8080\r\n";
    let spec_without_cluster = &SPEC_EXAMPLE[..SPEC_EXAMPLE.find("cluster:").unwrap_or(0)];
    let spec_with_flag = format!("{spec_without_cluster}cluster:\n  stopped: true\n");
    let cases: &[(&str, &str, &str)] = &[
        ("empty file", "", "cluster:\n  stopped: true\n"),
        ("only a newline", "\n", "\ncluster:\n  stopped: true\n"),
        ("one key", "name: shop\n", "name: shop\ncluster:\n  stopped: true\n"),
        ("no trailing newline", "name: shop", "name: shop\ncluster:\n  stopped: true"),
        ("comments only", "# a comment\n", "# a comment\ncluster:\n  stopped: true\n"),
        (
            "ends in a comment, no newline",
            "name: a\n# end",
            "name: a\n# end\ncluster:\n  stopped: true",
        ),
        ("trailing blank lines", "name: a\n\n\n", "name: a\n\n\ncluster:\n  stopped: true\n"),
        ("documented", DOCUMENTED, &documented_with),
        ("spec example without cluster", spec_without_cluster, &spec_with_flag),
        ("crlf", crlf, "name: shop\r\n# port\r\nport: 8080\r\ncluster:\r\n  stopped: true\r\n"),
        (
            "crlf, no trailing newline",
            "name: shop\r\nport: 1",
            "name: shop\r\nport: 1\r\ncluster:\r\n  stopped: true",
        ),
        (
            "4-space indent",
            "name: shop\nkind:\n    image: kindest/node:v1.31.0\n",
            "name: shop\nkind:\n    image: kindest/node:v1.31.0\ncluster:\n    stopped: true\n",
        ),
        (
            "document markers",
            "---\nname: a\n...\n",
            "---\nname: a\ncluster:\n  stopped: true\n...\n",
        ),
        (
            "document end then comment",
            "--- # start\nname: a\n... # end\n# bye\n",
            "--- # start\nname: a\ncluster:\n  stopped: true\n... # end\n# bye\n",
        ),
        ("only ---", "---\n", "---\ncluster:\n  stopped: true\n"),
        (
            "indented top level",
            "  name: a\n  port: 1\n",
            "  name: a\n  port: 1\n  cluster:\n    stopped: true\n",
        ),
        (
            "block scalar last, keep chomping",
            "name: a\ndescription: |+\n  text\n\n",
            "name: a\ndescription: |+\n  text\n\ncluster:\n  stopped: true\n",
        ),
        (
            "flow value last, no newline",
            "skills: [a, b]",
            "skills: [a, b]\ncluster:\n  stopped: true",
        ),
        // A block scalar last with no final newline: appending would add a line break to
        // the scalar, so the block goes before the last key (and its comments) instead.
        (
            "block scalar last, no newline",
            "name: a\ndescription: |\n  text",
            "name: a\ncluster:\n  stopped: true\ndescription: |\n  text",
        ),
        (
            "nested block scalar last, no newline",
            "name: a\n\n# hooks run by the ecosystem\nhooks:\n  pre-up: >\n    ./seed.sh",
            "name: a\n\ncluster:\n  stopped: true\n# hooks run by the ecosystem\nhooks:\n  pre-up: >\n    ./seed.sh",
        ),
        (
            "crlf, block scalar last with comments above, no newline",
            "name: a\r\n# hooks\r\nhooks:\r\n  pre-up: |\r\n    ./seed.sh",
            "name: a\r\ncluster:\r\n  stopped: true\r\n# hooks\r\nhooks:\r\n  pre-up: |\r\n    ./seed.sh",
        ),
        (
            "stripped block scalar last, no newline",
            "description: |-\n  text",
            "description: |-\n  text\ncluster:\n  stopped: true",
        ),
        ("bom", "\u{feff}name: a\n", "\u{feff}name: a\ncluster:\n  stopped: true\n"),
        (
            "quoted values kept",
            "name: 'shop'\nenv: {A: \"x # y\"}\n",
            "name: 'shop'\nenv: {A: \"x # y\"}\ncluster:\n  stopped: true\n",
        ),
    ];
    for (label, before, expected) in cases {
        let after = with(before);
        assert_eq!(&after, expected, "{label}");
        assert_only_flag_changed(before, &after, true);
        assert_eq!(&without(&after), before, "{label}: without(with(x)) == x");
        assert_eq!(with(&without(&after)), after, "{label}: with(without(y)) == y");
        assert_eq!(with(&after), after, "{label}: with() is idempotent");
        assert_eq!(&without(before), before, "{label}: nothing to remove");
    }
}

/// Every line-boundary prefix of realistic files, with LF, CRLF and no final newline:
/// the append case must round-trip exactly and change nothing but the flag.
#[test]
fn round_trip_holds_for_every_prefix_and_line_ending() {
    let spec_without_cluster = &SPEC_EXAMPLE[..SPEC_EXAMPLE.find("cluster:").unwrap_or(0)];
    let mut checked = 0;
    for base in [DOCUMENTED, spec_without_cluster, &starter("shop")] {
        let ends: Vec<usize> = base.match_indices('\n').map(|(i, _)| i + 1).collect();
        for end in ends {
            let prefix = &base[..end];
            for variant in [
                prefix.to_owned(),
                prefix.replace('\n', "\r\n"),
                prefix.trim_end_matches('\n').to_owned(),
            ] {
                let Ok((config, _)) = parse(path(), &variant) else { continue };
                let after = with(&variant);
                assert_only_flag_changed(&variant, &after, true);
                assert_eq!(without(&after), variant);
                assert_eq!(with(&without(&after)), after);
                assert!(!config.cluster.stopped);
                checked += 1;
            }
        }
    }
    assert!(checked > 150, "only {checked} variants parsed");
}

/// Files that already have `cluster:`: byte-exact results both ways.
#[test]
fn edits_of_an_existing_cluster_section() {
    // (label, before, after with(), after without(with()))
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "block with another key and a comment",
            "name: a\ncluster:\n  # runtime state\n  zone: eu\nport: 1\n",
            "name: a\ncluster:\n  stopped: true\n  # runtime state\n  zone: eu\nport: 1\n",
            "name: a\ncluster:\n  # runtime state\n  zone: eu\nport: 1\n",
        ),
        (
            "stopped: false with a comment",
            "cluster:\n  stopped: false   # set by kilter\nport: 1\n",
            "cluster:\n  stopped: true    # set by kilter\nport: 1\n",
            "port: 1\n",
        ),
        (
            "stopped: false after another key",
            "cluster:\n  zone: eu\n  stopped: false\n",
            "cluster:\n  zone: eu\n  stopped: true\n",
            "cluster:\n  zone: eu\n",
        ),
        ("stopped with no value", "cluster:\n  stopped:\n", "cluster:\n  stopped: true\n", ""),
        ("stopped: null", "cluster:\n    stopped: null # x\n", "cluster:\n    stopped: true # x\n", ""),
        (
            "empty cluster followed by keys",
            "name: a\ncluster:\nport: 1\n",
            "name: a\ncluster:\n  stopped: true\nport: 1\n",
            "name: a\nport: 1\n",
        ),
        (
            "empty cluster with a trailing comment",
            "name: a\ncluster:  # runtime state\nport: 1\n",
            "name: a\ncluster:  # runtime state\n  stopped: true\nport: 1\n",
            "name: a\ncluster:  # runtime state\nport: 1\n",
        ),
        ("cluster: ~", "cluster: ~\n", "cluster:\n  stopped: true\n", ""),
        ("cluster: null with comment", "cluster: null  # c\n", "cluster:  # c\n  stopped: true\n", "cluster:  # c\n"),
        ("cluster: {}", "name: a\ncluster: {}\nport: 1\n", "name: a\ncluster:\n  stopped: true\nport: 1\n", "name: a\nport: 1\n"),
        ("empty cluster last, no newline", "name: a\ncluster:", "name: a\ncluster:\n  stopped: true", "name: a"),
        (
            "4-space file, empty cluster",
            "kind:\n    image: x\ncluster:\n",
            "kind:\n    image: x\ncluster:\n    stopped: true\n",
            "kind:\n    image: x\n",
        ),
        (
            "4-space cluster block",
            "cluster:\n    zone: eu\nname: a\n",
            "cluster:\n    stopped: true\n    zone: eu\nname: a\n",
            "cluster:\n    zone: eu\nname: a\n",
        ),
        (
            "comments after the cluster block",
            "cluster:\n  zone: eu\n\n# --- ecosystem ---\nport: 1\n",
            "cluster:\n  stopped: true\n  zone: eu\n\n# --- ecosystem ---\nport: 1\n",
            "cluster:\n  zone: eu\n\n# --- ecosystem ---\nport: 1\n",
        ),
        (
            "crlf, stopped: false",
            "name: a\r\ncluster:\r\n  stopped: false\r\nport: 1\r\n",
            "name: a\r\ncluster:\r\n  stopped: true\r\nport: 1\r\n",
            "name: a\r\nport: 1\r\n",
        ),
        (
            "quoted keys",
            "\"cluster\":\n  'stopped': false\n  zone: eu\n",
            "\"cluster\":\n  'stopped': true\n  zone: eu\n",
            "\"cluster\":\n  zone: eu\n",
        ),
        (
            "anchored block",
            "cluster: &state\n  zone: eu\n",
            "cluster: &state\n  stopped: true\n  zone: eu\n",
            "cluster: &state\n  zone: eu\n",
        ),
        (
            "flow mapping without stopped",
            "cluster: {zone: eu}  # c\n",
            "cluster: {stopped: true, zone: eu}  # c\n",
            "cluster: {zone: eu}  # c\n",
        ),
        (
            "flow mapping with stopped: false",
            "cluster: { stopped: false, zone: eu }\n",
            "cluster: { stopped: true, zone: eu }\n",
            "cluster: { zone: eu }\n",
        ),
        (
            "flow mapping, stopped last",
            "cluster: {zone: eu, stopped: false}\n",
            "cluster: {zone: eu, stopped: true}\n",
            "cluster: {zone: eu}\n",
        ),
        (
            "flow mapping with an apostrophe inside a value",
            "cluster: {note: it's fine}\n",
            "cluster: {stopped: true, note: it's fine}\n",
            "cluster: {note: it's fine}\n",
        ),
        (
            "flow mapping with a quoted value",
            "cluster: {note: \"a, b}\"}\n",
            "cluster: {stopped: true, note: \"a, b}\"}\n",
            "cluster: {note: \"a, b}\"}\n",
        ),
        ("flow mapping, stopped alone", "cluster: {stopped: false}\n", "cluster: {stopped: true}\n", "cluster: {}\n"),
        (
            "document markers around a block",
            "---\ncluster:\n  zone: eu\n...\n",
            "---\ncluster:\n  stopped: true\n  zone: eu\n...\n",
            "---\ncluster:\n  zone: eu\n...\n",
        ),
        (
            "spec example",
            &SPEC_EXAMPLE.replace("stopped: true ", "stopped: false"),
            SPEC_EXAMPLE,
            &SPEC_EXAMPLE.replace(
                "cluster:\n  stopped: true            # written by `kilter stop`, removed by `kilter up`\n",
                "",
            ),
        ),
    ];
    for (label, before, expected_with, expected_without) in cases {
        let after = with(before);
        assert_eq!(&after, expected_with, "{label}: with()");
        assert_only_flag_changed(before, &after, true);
        let removed = without(&after);
        assert_eq!(&removed, expected_without, "{label}: without()");
        assert_only_flag_changed(&after, &removed, false);
        assert_eq!(with(&after), after, "{label}: with() is idempotent");
        assert_eq!(without(&removed), removed, "{label}: without() is idempotent");
    }
}

#[test]
fn without_removes_only_what_with_would_add() {
    let cases: &[(&str, &str, &str)] = &[
        ("flag first of two", "cluster:\n  stopped: true\n  zone: eu\n", "cluster:\n  zone: eu\n"),
        (
            "flag with comment",
            "cluster:\n  zone: eu\n  stopped: true  # why\n",
            "cluster:\n  zone: eu\n",
        ),
        (
            "comment before the flag",
            "cluster:\n  # keep me\n  stopped: true\n",
            "cluster:\n  # keep me\n",
        ),
        (
            "indented comment after the flag",
            "cluster:\n  stopped: true\n  # note\nport: 1\n",
            "cluster:\n  # note\nport: 1\n",
        ),
        (
            "top-level comment after the block",
            "cluster:\n  stopped: true\n# top\nport: 1\n",
            "# top\nport: 1\n",
        ),
        ("no trailing newline", "name: a\ncluster:\n  stopped: true", "name: a"),
        ("blank line before", "name: a\n\ncluster:\n  stopped: true\n", "name: a\n\n"),
        ("only the flag", "cluster:\n  stopped: true\n", ""),
        ("only the flag, no newline", "cluster:\n  stopped: true", ""),
        ("crlf, no newline", "a: 1\r\ncluster:\r\n  stopped: true", "a: 1"),
        ("True spelling", "cluster:\n  stopped: True\n", ""),
        ("flow, first", "cluster: {stopped: true, zone: eu}\n", "cluster: {zone: eu}\n"),
        ("flow, spaces", "cluster: { zone: eu , stopped: true }\n", "cluster: { zone: eu }\n"),
        ("flow, alone", "cluster: { stopped: true }\n", "cluster: {}\n"),
        ("bom", "\u{feff}cluster:\n  stopped: true\n", "\u{feff}"),
    ];
    for (label, before, expected) in cases {
        let after = without(before);
        assert_eq!(&after, expected, "{label}");
        assert_only_flag_changed(before, &after, false);
    }
}

#[test]
fn without_leaves_files_with_no_flag_unchanged() {
    for text in [
        "",
        "name: a",
        DOCUMENTED,
        "cluster:\n",
        "cluster:\n  stopped: false\n",
        "cluster:\n  stopped:\n",
        "cluster: {stopped: false}\n",
        "# cluster:\n#   stopped: true\n",
    ] {
        assert_eq!(without(text), text, "{text:?}");
    }
}

/// Layouts the line-based editor of old refused; the span-based one edits them exactly.
#[test]
fn multi_line_and_flow_layouts_are_edited_exactly() {
    // (label, before, with(), without(with()))
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "multi-line flow",
            "cluster: {zone: eu,\n  region: x}\n",
            "cluster: {stopped: true, zone: eu,\n  region: x}\n",
            "cluster: {zone: eu,\n  region: x}\n",
        ),
        (
            "flow top level",
            "{name: a, port: 1}\n",
            "{name: a, port: 1, cluster: {stopped: true}}\n",
            "{name: a, port: 1}\n",
        ),
        ("empty flow top level", "{}\n", "{cluster: {stopped: true}}\n", "{}\n"),
        (
            "flow top level over lines",
            "{\n  name: a,\n  port: 1\n}\n",
            "{\n  name: a,\n  port: 1, cluster: {stopped: true}\n}\n",
            "{\n  name: a,\n  port: 1\n}\n",
        ),
        (
            "flow top level with cluster",
            "{name: a, cluster: {zone: eu}}",
            "{name: a, cluster: {stopped: true, zone: eu}}",
            "{name: a, cluster: {zone: eu}}",
        ),
        (
            "flow top level, cluster: {}",
            "{name: a, cluster: {}}",
            "{name: a, cluster: {stopped: true}}",
            "{name: a}",
        ),
        (
            "flow top level, cluster: ~",
            "{cluster: ~, name: a}",
            "{cluster: {stopped: true}, name: a}",
            "{name: a}",
        ),
        (
            "value on the next line",
            "cluster:\n  stopped:\n    false\n",
            "cluster:\n  stopped:\n    true\n",
            "",
        ),
        (
            "null on the next line",
            "cluster:\n  ~\nport: 1\n",
            "cluster:\n  stopped: true\nport: 1\n",
            "port: 1\n",
        ),
        ("tagged false", "cluster:\n  stopped: !!bool false\n", "cluster:\n  stopped: true\n", ""),
        ("bare CR line breaks", "a: 1\rcluster:\r", "a: 1\rcluster:\r  stopped: true\r", "a: 1\r"),
        ("a final bare CR", "name: a\r", "name: a\rcluster:\r  stopped: true\r", "name: a\r"),
        (
            "LF file with a stray CR at the end",
            "name: a\nport: 1\r",
            "name: a\nport: 1\rcluster:\n  stopped: true\n",
            "name: a\nport: 1\r",
        ),
    ];
    for (label, before, expected_with, expected_without) in cases {
        let after = with(before);
        assert_eq!(&after, expected_with, "{label}: with()");
        assert_only_flag_changed(before, &after, true);
        let removed = without(&after);
        assert_eq!(&removed, expected_without, "{label}: without()");
        assert_only_flag_changed(&after, &removed, false);
    }
    let clear_cases: &[(&str, &str)] = &[
        ("cluster: {zone: eu,\n  stopped: true}\n", "cluster: {zone: eu}\n"),
        ("cluster: {\n  stopped: true,\n  zone: eu\n}\n", "cluster: {\n  zone: eu\n}\n"),
        ("{cluster: {stopped: true}}", "{}"),
    ];
    for (before, expected) in clear_cases {
        assert_eq!(&without(before), expected, "{before:?}");
    }
}

#[test]
fn edits_that_cannot_be_done_safely_are_refused() {
    // (text, set?, reason, hint)
    let cases: &[(&str, bool, &str, &str)] = &[
        (
            "base: &b {zone: eu}\ncluster: *b\n",
            true,
            "`cluster` is an alias (`*b`) of a node written elsewhere",
            "write `cluster` out in full instead of `*b`",
        ),
        (
            "base: &b {stopped: true}\ncluster: *b\n",
            false,
            "`cluster` is an alias (`*b`)",
            "write `cluster` out in full",
        ),
        (
            "cluster: &c\n  zone: eu\nother: *c\n",
            true,
            "`cluster` carries the anchor `&c`, which line 3 uses",
            "give line 3 its own copy",
        ),
        (
            "off: &f false\ncluster:\n  stopped: *f\n",
            true,
            "`cluster.stopped` is an alias (`*f`)",
            "write `cluster.stopped` out in full",
        ),
        (
            "cluster:\n  stopped: &t true\non: *t\n",
            false,
            "`cluster.stopped` carries the anchor `&t`, which line 3 uses",
            "give line 3",
        ),
        (
            "cluster: {zone: eu, # why\n  stopped: true}\n",
            false,
            "a comment sits inside the part to remove",
            "block style",
        ),
    ];
    for (text, set, reason, hint) in cases {
        let result = if *set {
            set_stopped(path(), text).map(|e| e.text)
        } else {
            clear_stopped(path(), text, None)
        };
        let Err(err) = result else { panic!("{text:?} should be refused") };
        assert_eq!(err.code, Code::Invalid);
        assert!(
            err.message.starts_with("cannot edit `cluster.stopped` in /p/kilter.yaml: "),
            "{}",
            err.message
        );
        assert!(err.message.contains(reason), "{text:?}: {}", err.message);
        assert!(err.hint.as_deref().is_some_and(|h| h.contains(hint)), "{text:?}: {:?}", err.hint);
    }
    // An anchor nobody uses is no reason to refuse.
    assert_eq!(with("cluster: &c\n  zone: eu\n"), "cluster: &c\n  stopped: true\n  zone: eu\n");
}

#[test]
fn an_edit_that_would_change_the_file_meaning_is_refused() {
    // A document that is a bare null: appending a mapping after it is no YAML any more,
    // and the verification catches that.
    let err = set_stopped(path(), "~\n").expect_err("must be refused");
    assert_eq!(
        err.message,
        "refusing to edit /p/kilter.yaml: the edit would change other settings"
    );
    assert_eq!(err.code, Code::Invalid);
    // Invalid files are reported as parse errors, not edited.
    let err = set_stopped(path(), "cluster: stopped\n").expect_err("invalid");
    assert!(err.message.starts_with("/p/kilter.yaml:1:10: "), "{}", err.message);
    let err = clear_stopped(path(), "name: [\n", None).expect_err("invalid");
    assert!(err.message.starts_with("/p/kilter.yaml:2:1: invalid YAML"), "{}", err.message);
}

#[test]
fn verification_compares_the_whole_tree() {
    let verify = edit::verify_flag;
    let old = parse_full(path(), "name: a\nport: 1\n").expect("parses");
    assert!(verify(path(), &old, "name: a\nport: 1\ncluster:\n  stopped: true\n", true).is_ok());
    // Same Config, but an ecosystem value changed: refused.
    assert!(verify(path(), &old, "name: a\nport: 2\ncluster:\n  stopped: true\n", true).is_err());
    // Same value, other quoting or style: refused too (the editor never touches them).
    assert!(verify(path(), &old, "name: 'a'\nport: 1\ncluster:\n  stopped: true\n", true).is_err());
    // Flag not set: refused.
    assert!(verify(path(), &old, "name: a\nport: 1\n", true).is_err());
    // Does not parse: refused.
    assert!(verify(path(), &old, "name: a\nport: [\n", true).is_err());
}

// ---------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------

fn temp_dir() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).expect("utf-8 temp dir");
    (dir, path)
}

fn entries(dir: &Utf8Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn find_walks_up_from_the_start_directory() {
    let (_guard, root) = temp_dir();
    let deep = root.join("a/b/c");
    std::fs::create_dir_all(&deep).expect("mkdir");
    std::fs::create_dir_all(root.join("a/b/kilter.yaml")).expect("a directory named kilter.yaml");
    std::fs::write(root.join("a/kilter.yaml"), "name: a\n").expect("write");
    assert_eq!(find(&deep), Some(root.join("a/kilter.yaml")));
    assert_eq!(find(&root.join("a")), Some(root.join("a/kilter.yaml")));
    assert_eq!(find(&root.join("a/b/./c")), Some(root.join("a/kilter.yaml")));
    assert_eq!(find(&root.join("a/b/../b/c")), Some(root.join("a/kilter.yaml")));
    std::fs::create_dir_all(root.join("x")).expect("mkdir");
    // `..` is resolved lexically: this is `<root>/x`, which must not find `<root>/a/kilter.yaml`.
    assert_eq!(find(&root.join("a/b/c/../../../x")), find(&root));
    assert_ne!(find(&root.join("a/b/c/../../../x")), Some(root.join("a/kilter.yaml")));
    std::fs::write(deep.join(FILE_NAME), "").expect("write");
    assert_eq!(find(&deep), Some(deep.join(FILE_NAME)));
}

#[test]
fn load_reads_parses_and_keeps_the_text() {
    let (_guard, dir) = temp_dir();
    let file = dir.join(FILE_NAME);
    std::fs::write(&file, "name: shop\ncolour: red\n").expect("write");
    let loaded = load(&file).expect("loads");
    assert_eq!(loaded.path, file);
    assert_eq!(loaded.text, "name: shop\ncolour: red\n");
    assert_eq!(loaded.config.name.as_deref(), Some("shop"));
    assert_eq!(loaded.warnings, vec![format!("{file}:2: unknown key `colour`")]);

    std::fs::write(&file, b"name: shop\nport: \xff\n").expect("write");
    let err = load(&file).expect_err("not utf-8");
    assert_eq!(err.message, format!("{file}:2:7: the file is not valid UTF-8"));

    std::fs::write(&file, "cluster: stopped\n").expect("write");
    assert!(
        load(&file).expect_err("invalid").message.starts_with(&format!("{file}:1:10: cluster:"))
    );

    let err = load(&dir.join("missing.yaml")).expect_err("missing");
    assert!(err.message.starts_with("could not read "), "{}", err.message);
}

#[test]
fn write_atomic_replaces_contents_and_leaves_no_temp_file() {
    let (_guard, dir) = temp_dir();
    let file = dir.join(FILE_NAME);
    crate::fsutil::write_atomic(&file, "name: a\n".as_bytes(), crate::fsutil::Perm::Keep)
        .expect("create");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "name: a\n");
    crate::fsutil::write_atomic(
        &file,
        "name: b\ncluster:\n  stopped: true\n".as_bytes(),
        crate::fsutil::Perm::Keep,
    )
    .expect("replace");
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "name: b\ncluster:\n  stopped: true\n"
    );
    assert_eq!(entries(&dir), vec![FILE_NAME.to_owned()]);
    // A failed write (directory missing) leaves nothing behind either. (The one atomic
    // writer of kilter is `fsutil`'s; kilter.yaml uses it with `Perm::Keep`.)
    assert!(
        crate::fsutil::write_atomic(
            &dir.join("nope/kilter.yaml"),
            "x".as_bytes(),
            crate::fsutil::Perm::Keep
        )
        .is_err()
    );
    assert_eq!(entries(&dir), vec![FILE_NAME.to_owned()]);
}

#[cfg(unix)]
#[test]
fn write_atomic_keeps_permissions_and_symlinks() {
    use std::os::unix::fs::PermissionsExt as _;

    let (_guard, dir) = temp_dir();
    let file = dir.join(FILE_NAME);
    std::fs::write(&file, "name: a\n").expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    crate::fsutil::write_atomic(&file, "name: b\n".as_bytes(), crate::fsutil::Perm::Keep)
        .expect("write");
    let mode = std::fs::metadata(&file).expect("stat").permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "name: b\n");

    let link_dir = dir.join("project");
    std::fs::create_dir(&link_dir).expect("mkdir");
    let link = link_dir.join(FILE_NAME);
    std::os::unix::fs::symlink(&file, &link).expect("symlink");
    crate::fsutil::write_atomic(&link, "name: c\n".as_bytes(), crate::fsutil::Perm::Keep)
        .expect("write through link");
    assert!(std::fs::symlink_metadata(&link).expect("lstat").file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "name: c\n");
    assert_eq!(entries(&dir), vec![FILE_NAME.to_owned(), "project".to_owned()]);
    assert_eq!(entries(&link_dir), vec![FILE_NAME.to_owned()]);
}

// ---------------------------------------------------------------------------------------
// Starter file
// ---------------------------------------------------------------------------------------

#[test]
fn starter_parses_to_just_the_name_and_documents_every_section() {
    for name in ["shop", "my-app", "123", "true", "null", "1e3", "0x1f"] {
        let text = starter(name);
        let (config, warnings) = parse_ok(&text);
        assert_eq!(config, Config { name: Some(name.to_owned()), ..Config::default() }, "{text}");
        assert!(warnings.is_empty(), "{warnings:?}");
        for section in [
            "# tiltfile:",
            "# kind:",
            "#   image:",
            "# database:",
            "#   engine: postgres",
            "# services:",
            "#   - postgres",
            "# registry: false",
            "cluster.stopped",
        ] {
            assert!(text.contains(section), "missing {section:?}");
        }
        let stopped_text = with(&text);
        assert_eq!(stopped_text, format!("{text}cluster:\n  stopped: true\n"));
        assert_eq!(without(&stopped_text), text);
    }
    assert!(starter("shop").contains("\nname: shop\n"));
    assert!(starter("123").contains("\nname: \"123\"\n"));
}

// ---------------------------------------------------------------------------------------
// Undo
// ---------------------------------------------------------------------------------------

#[track_caller]
fn set(text: &str) -> Edited {
    set_stopped(path(), text).unwrap_or_else(|err| panic!("set_stopped({text:?}): {err}"))
}

#[track_caller]
fn undo(text: &str, undo: &Undo) -> String {
    clear_stopped(path(), text, Some(undo))
        .unwrap_or_else(|err| panic!("clear_stopped({text:?}, undo): {err}"))
}

/// Every form comes back byte for byte after set then clear with the undo.
#[test]
fn set_then_clear_with_undo_restores_the_exact_bytes() {
    let block_scalar_last = "name: a\ndescription: |\n  text\n  more\n";
    let cases: &[&str] = &[
        "cluster:\n  stopped: false  # explicit\n",
        "cluster:\n  stopped: false\n",
        "cluster: {}\n",
        "cluster: {}  # state\nport: 1\n",
        "cluster: null\n",
        "cluster: ~\n",
        "cluster: ~",
        "cluster:\n  stopped: ~\n",
        "cluster:\n  stopped:\n",
        "cluster:\n  ~\n",
        "cluster: {stopped: false}\n",
        "cluster: { zone: eu }\n",
        "cluster:\n  # runtime state\n  zone: eu\n",
        "",
        "\n",
        "name: shop\n",
        "name: shop",
        "name: shop\r\nport: 1\r\n",
        "name: shop\r\ncluster:\r\n  stopped: false # c\r\n",
        "name: shop\r\nport: 1",
        "\u{feff}name: shop\n",
        "\u{feff}cluster: ~\n",
        "---\nname: a\n...\n",
        "--- # start\nname: a\n... # end\n# bye\n",
        block_scalar_last,
        "name: a\ndescription: |\n  text",
        "name: a\ndescription: >-\n  folded\n  text\n",
        "name: a\ndescription: |+\n  text\n\n",
        "# top\nname: a  # the name\n\n# cluster state below\ncluster:  # set by kilter\n  # nothing yet\n  zone: eu  # where\n# end\n",
        "{name: x}\n",
        "{name: x, cluster: {}}",
        "{}",
        "name: a\r",
        "a: 1\rcluster:\r",
        DOCUMENTED,
    ];
    let spec = SPEC_EXAMPLE.replace("stopped: true ", "stopped: false");
    for before in cases.iter().copied().chain([spec.as_str()]) {
        let edited = set(before);
        assert_only_flag_changed(before, &edited.text, true);
        assert_eq!(&undo(&edited.text, &edited.undo), before, "undo of {before:?}");
        // The undo survives a trip through its runtime file.
        let json = serde_json::to_string(&edited.undo).expect("serialises");
        let back: Undo = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, edited.undo);
    }
}

#[test]
fn undo_records_only_the_replaced_bytes() {
    let edited = set("name: a\ncluster:\n  stopped: false  # explicit\n");
    assert_eq!(edited.text, "name: a\ncluster:\n  stopped: true   # explicit\n");
    assert_eq!(
        edited.undo,
        Undo {
            offset: 28,
            old: "false".into(),
            new: "true ".into(),
            before: "  stopped: ".into(),
            after: "  # explicit".into(),
        }
    );
    let edited = set("cluster: {}\n");
    assert_eq!(edited.text, "cluster:\n  stopped: true\n");
    assert_eq!((edited.undo.old.as_str(), edited.undo.new.as_str()), (" {}", "\n  stopped: true"));
    // Already set: nothing to undo, and clearing with it falls back to removing the line.
    let edited = set("cluster:\n  stopped: true\n");
    assert_eq!(edited.undo.old, edited.undo.new);
    assert_eq!(undo(&edited.text, &edited.undo), "");
}

#[test]
fn undo_still_applies_after_edits_elsewhere() {
    let before = "name: a\ncluster: {}  # state\nport: 1\n";
    let edited = set(before);
    // Someone adds lines above and below between `kilter stop` and `kilter up`.
    let moved = format!("# added\n{}extra: 2\n", edited.text);
    assert_eq!(undo(&moved, &edited.undo), format!("# added\n{before}extra: 2\n"));
}

#[test]
fn a_stale_undo_falls_back_to_removing_the_flag() {
    let before = "cluster: ~\nport: 1\n";
    let edited = set(before);
    // The flag was rewritten by hand: the recorded bytes are gone.
    let rewritten = "cluster:\n  stopped: TRUE\nport: 1\n";
    assert_eq!(undo(rewritten, &edited.undo), "port: 1\n");
    // Still at its offset: used, even if the same bytes occur again further down.
    let again = format!("{}subcluster:\n  stopped: true\n", edited.text);
    assert_eq!(undo(&again, &edited.undo), format!("{before}subcluster:\n  stopped: true\n"));
    // Moved, and found twice: ambiguous, so not used.
    let twice = format!("# moved\n{again}");
    assert_eq!(undo(&twice, &edited.undo), "# moved\nport: 1\nsubcluster:\n  stopped: true\n");
    // Edits elsewhere on the same block do not matter: the swap still verifies.
    let edited = set("cluster:\n  stopped: false\n  zone: eu\n");
    let changed = edited.text.replace("zone: eu", "zone: us");
    assert_eq!(undo(&changed, &edited.undo), "cluster:\n  stopped: false\n  zone: us\n");
    // Swapping back would change more than the flag (here: add a key): not used.
    let adds_a_key = Undo {
        offset: 0,
        old: "x: 1\n".into(),
        new: String::new(),
        before: String::new(),
        after: String::new(),
    };
    assert_eq!(undo("cluster:\n  stopped: true\nport: 1\n", &adds_a_key), "port: 1\n");
    // An undo from another file entirely.
    let foreign = Undo {
        offset: 3,
        old: "x".into(),
        new: "y".into(),
        before: String::new(),
        after: String::new(),
    };
    assert_eq!(undo("cluster:\n  stopped: true\n", &foreign), "");
    // No flag set: unchanged whatever the undo says.
    assert_eq!(undo("name: a\n", &foreign), "name: a\n");
}

/// The comment after a rewritten value keeps its column when the blanks allow it.
#[test]
fn rewritten_values_keep_the_comment_column() {
    for (line, expected) in [
        ("  stopped: false", "  stopped: true"),
        ("  stopped: false  # set by kilter", "  stopped: true   # set by kilter"),
        ("  stopped: ~ # c", "  stopped: true # c"),
        ("  stopped: null        # c", "  stopped: true        # c"),
        ("  stopped: false\t# c", "  stopped: true\t# c"),
        ("  stopped: false  ", "  stopped: true  "),
        ("  stopped:", "  stopped: true"),
        ("  stopped:   # c", "  stopped: true   # c"),
        ("  \"stopped\" : 'false'", "  \"stopped\" : 'false'"),
    ] {
        let text = format!("cluster:\n{line}\n");
        if line.contains("'false'") {
            // A quoted 'false' is a string: an invalid flag, not edited.
            assert!(set_stopped(path(), &text).is_err());
            continue;
        }
        assert_eq!(with(&text), format!("cluster:\n{expected}\n"), "{line:?}");
    }
}

/// New `cluster:` blocks use the file's own indentation step.
#[test]
fn new_blocks_use_the_files_indentation() {
    for (text, unit) in [
        ("", 2),
        ("name: a\n", 2),
        ("kind:\n    image: x\n", 4),
        ("kind:\n  image: x\n", 2),
        ("# kind:\n#     image: x\nname: a\nenv:\n   A: 1\n", 3),
        ("services:\n- name: a\n  port: 1\nenv:\n    A: b\n", 4),
        ("description: |\n    text:\n        more\nkind:\n  image: x\n", 2),
        ("a:\n  b:\n    c: 1\n", 2),
        ("a: {b: {c: 1}}\nd:\n     e: 1\n", 5),
    ] {
        let expected = format!("cluster:\n{}stopped: true\n", " ".repeat(unit));
        assert!(with(text).ends_with(&expected), "{text:?}: {:?}", with(text));
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
            "services:\n  - name: api\n    provides:\n      PORT: 80\n",
            "/p/kilter.yaml:4:13: services[0].provides.PORT: expected a string, found the number 80",
            Some("quote the value to make it a string: `PORT: \"80\"`"),
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
// Editing services
// ---------------------------------------------------------------------------------------

#[track_caller]
fn add(text: &str, names: &[&str]) -> String {
    add_services(path(), text, names).unwrap_or_else(|err| panic!("add_services({text:?}): {err}"))
}

#[track_caller]
fn remove(text: &str, names: &[&str]) -> String {
    remove_services(path(), text, names)
        .unwrap_or_else(|err| panic!("remove_services({text:?}): {err}"))
}

/// Everything but `services:` parses the same.
#[track_caller]
fn assert_only_services_changed(before: &str, after: &str, names: &[&str]) {
    let (mut old, _) = parse_ok(before);
    let (mut new, _) = parse_ok(after);
    let listed: Vec<&str> = new.services.iter().map(|s| s.name.value.as_str()).collect();
    assert_eq!(listed, names, "{before:?} -> {after:?}");
    old.services.clear();
    new.services.clear();
    assert_eq!(old, new, "{before:?} -> {after:?}");
}

#[test]
fn add_services_appends_in_the_files_style() {
    // (label, before, names, after)
    let cases: &[(&str, &str, &[&str], &str)] = &[
        ("empty file", "", &["postgres"], "services:\n  - postgres\n"),
        (
            "absent",
            "name: a\n",
            &["postgres", "redis"],
            "name: a\nservices:\n  - postgres\n  - redis\n",
        ),
        ("absent, no final newline", "name: a", &["redis"], "name: a\nservices:\n  - redis"),
        (
            "absent, lists at column 0 elsewhere",
            "skills:\n- rust\n",
            &["redis"],
            "skills:\n- rust\nservices:\n- redis\n",
        ),
        (
            "absent, 4-space file",
            "kind:\n    image: x\n",
            &["redis"],
            "kind:\n    image: x\nservices:\n    - redis\n",
        ),
        (
            "absent, before a final ...",
            "---\nname: a\n...\n",
            &["redis"],
            "---\nname: a\nservices:\n  - redis\n...\n",
        ),
        (
            "absent, block scalar last without newline",
            "name: a\ndescription: |\n  text",
            &["redis"],
            "name: a\nservices:\n  - redis\ndescription: |\n  text",
        ),
        ("empty key", "services:\nport: 1\n", &["redis"], "services:\n  - redis\nport: 1\n"),
        (
            "null with a comment",
            "services: ~  # none yet\n",
            &["redis"],
            "services:  # none yet\n  - redis\n",
        ),
        (
            "block list",
            "services:\n  - postgres\n  # - mailpit\nport: 1\n",
            &["redis"],
            "services:\n  - postgres\n  - redis\n  # - mailpit\nport: 1\n",
        ),
        (
            "block list at column 0",
            "services:\n- postgres\n",
            &["redis"],
            "services:\n- postgres\n- redis\n",
        ),
        (
            "mapping item last, with a comment",
            "services:\n  - name: api\n    image: x  # mine\nport: 1\n",
            &["redis"],
            "services:\n  - name: api\n    image: x  # mine\n  - redis\nport: 1\n",
        ),
        (
            "block scalar in the last item",
            "services:\n  - name: api\n    env:\n      SCRIPT: |\n        run\nport: 1\n",
            &["redis"],
            "services:\n  - name: api\n    env:\n      SCRIPT: |\n        run\n  - redis\nport: 1\n",
        ),
        (
            "no final newline",
            "services:\n  - postgres",
            &["redis"],
            "services:\n  - postgres\n  - redis",
        ),
        (
            "crlf",
            "services:\r\n  - postgres\r\n",
            &["redis", "nats"],
            "services:\r\n  - postgres\r\n  - redis\r\n  - nats\r\n",
        ),
        (
            "flow list",
            "services: [postgres]  # c\n",
            &["redis"],
            "services: [postgres, redis]  # c\n",
        ),
        ("empty flow list", "services: []\n", &["redis", "nats"], "services: [redis, nats]\n"),
        (
            "flow list over lines",
            "services: [\n  postgres,\n  redis\n]\n",
            &["nats"],
            "services: [\n  postgres,\n  redis, nats\n]\n",
        ),
        ("flow top level", "{name: a}", &["redis"], "{name: a, services: [redis]}"),
        (
            "flow top level, null",
            "{services: , name: a}",
            &["redis"],
            "{services: [redis] , name: a}",
        ),
        (
            "names that need quotes",
            "name: a\n",
            &["123", "null"],
            "name: a\nservices:\n  - \"123\"\n  - \"null\"\n",
        ),
        ("bom", "\u{feff}name: a\n", &["redis"], "\u{feff}name: a\nservices:\n  - redis\n"),
        ("bare CR", "name: a\r", &["redis"], "name: a\rservices:\r  - redis\r"),
    ];
    for (label, before, names, expected) in cases {
        let after = add(before, names);
        assert_eq!(&after, expected, "{label}");
        let (old, _) = parse_ok(before);
        let mut listed: Vec<&str> = old.services.iter().map(|s| s.name.value.as_str()).collect();
        listed.extend(names.iter());
        assert_only_services_changed(before, &after, &listed);
    }
}

#[test]
fn add_services_skips_what_is_listed() {
    let text = "services:\n  - postgres\n  - name: redis\n    port: 6380\n";
    assert_eq!(add(text, &["postgres", "redis"]), text);
    assert_eq!(add(text, &["redis", "nats", "nats"]), format!("{text}  - nats\n"));
    let err = add_services(path(), text, &["Nats"]).expect_err("invalid name");
    assert_eq!(err.code, Code::Invalid);
    assert!(
        err.message.starts_with("invalid service name \"Nats\" (it contains uppercase letters)"),
        "{}",
        err.message
    );
    assert_eq!(err.hint.as_deref(), Some("try `nats`"));
    // Invalid files are not edited.
    let err = add_services(path(), "services: {}\n", &["redis"]).expect_err("invalid");
    assert!(err.message.starts_with("/p/kilter.yaml:1:11: services:"), "{}", err.message);
    // An alias is not followed.
    let err =
        add_services(path(), "x: &s [postgres]\nservices: *s\n", &["redis"]).expect_err("alias");
    assert!(
        err.message.starts_with("cannot edit `services` in /p/kilter.yaml: `services` is an alias"),
        "{}",
        err.message
    );
}

#[test]
fn remove_services_takes_out_the_items_lines() {
    // (label, before, names, after)
    let cases: &[(&str, &str, &[&str], &str)] = &[
        (
            "last",
            "services:\n  - postgres\n  - redis\nport: 1\n",
            &["redis"],
            "services:\n  - postgres\nport: 1\n",
        ),
        (
            "first, with its comment",
            "services:\n  - postgres  # main db\n  - redis\n",
            &["postgres"],
            "services:\n  - redis\n",
        ),
        (
            "a mapping item, by name",
            "services:\n  - name: api\n    image: x\n    env:\n      A: 1\n  - redis\n",
            &["api"],
            "services:\n  - redis\n",
        ),
        (
            "the last one",
            "name: a\nservices:\n  - redis\nport: 1\n",
            &["redis"],
            "name: a\nservices:\nport: 1\n",
        ),
        (
            "no final newline",
            "services:\n  - postgres\n  - redis",
            &["redis"],
            "services:\n  - postgres",
        ),
        (
            "crlf",
            "services:\r\n  - postgres\r\n  - redis\r\n",
            &["postgres"],
            "services:\r\n  - redis\r\n",
        ),
        ("two at once", "services:\n- a\n- b\n- c\n", &["c", "a"], "services:\n- b\n"),
        (
            "flow, middle",
            "services: [postgres, redis, nats]\n",
            &["redis"],
            "services: [postgres, nats]\n",
        ),
        ("flow, first", "services: [postgres, redis]\n", &["postgres"], "services: [redis]\n"),
        ("flow, last", "services: [ postgres , redis ]\n", &["redis"], "services: [ postgres ]\n"),
        ("flow, all", "services: [postgres, redis]\n", &["postgres", "redis"], "services: []\n"),
        (
            "flow mapping item",
            "services: [{name: api, port: 80}, redis]\n",
            &["api"],
            "services: [redis]\n",
        ),
        (
            "block scalar in the item",
            "services:\n  - name: api\n    env:\n      S: |\n        run\n  - redis\n",
            &["api"],
            "services:\n  - redis\n",
        ),
    ];
    for (label, before, names, expected) in cases {
        let after = remove(before, names);
        assert_eq!(&after, expected, "{label}");
        let (old, _) = parse_ok(before);
        let left: Vec<&str> = old
            .services
            .iter()
            .map(|s| s.name.value.as_str())
            .filter(|n| !names.contains(n))
            .collect();
        assert_only_services_changed(before, &after, &left);
    }
}

#[test]
fn add_then_remove_gives_the_file_back() {
    for before in [
        "services:\n  - postgres\n",
        "services:\n  - postgres  # db\n# the end\n",
        "services: [postgres]\n",
        "services:\r\n- postgres\r\nport: 1",
        "name: a\nservices:\n  - name: api\n    image: x\n",
    ] {
        let added = add(before, &["redis", "nats"]);
        assert_eq!(remove(&added, &["nats", "redis"]), before, "{before:?}");
    }
}

#[test]
fn removing_what_is_not_listed_names_what_is() {
    let err =
        remove_services(path(), "services: [postgres, redis]\n", &["nats"]).expect_err("absent");
    assert_eq!(err.code, Code::Invalid);
    assert_eq!(
        err.message,
        "cannot remove `nats`: it is not under `services:` in /p/kilter.yaml (it lists `postgres`, `redis`)"
    );
    assert_eq!(err.hint, None);
    let err =
        remove_services(path(), "services: [postgres, redis]\n", &["redsi"]).expect_err("typo");
    assert_eq!(err.hint.as_deref(), Some("did you mean `redis`?"));
    let err = remove_services(path(), "name: a\n", &["nats"]).expect_err("absent");
    assert_eq!(
        err.message,
        "cannot remove `nats`: it is not under `services:` in /p/kilter.yaml (it lists no services)"
    );
    // Nothing is removed when one of the names is missing.
    assert!(remove_services(path(), "services: [redis]\n", &["redis", "nats"]).is_err());
    let err = remove_services(path(), "x: &r {name: redis}\nservices: [*r]\n", &["redis"])
        .expect_err("alias");
    assert!(err.message.contains("the service is an alias"), "{}", err.message);
}

/// Every prefix of a file full of odd YAML, cut at any character: the parser and the four
/// editors return (an edit that verified, or an error) and never panic.
#[test]
fn every_prefix_of_odd_yaml_is_handled_without_panic() {
    let odd = "\u{feff}--- # doc\r\nname: 'shop'  # q\r\n\"cluster\" : &c { stopped: false, zone: \"a, b}\" }\r\n\
               x: *c\r\nservices: [ postgres , {name: api, env: {A: 1}} ]\r\nd: |+\r\n  keep\r\n\r\n\
               e: >-\r\n  fold\r\n? complex\r\n: value\r\nl:\r\n- - a\r\n  - b\r\n- ~\r\nt: !custom x\r\n\
               n: ünï\r\n...\r\n";
    let mut outcomes = [0usize; 2];
    for (end, _) in odd.char_indices().chain([(odd.len(), ' ')]) {
        for text in
            [&odd[..end], &odd[..end].replace("\r\n", "\n"), &odd[..end].replace("\r\n", "\r")]
        {
            let _ = parse(path(), text);
            let results = [
                set_stopped(path(), text).map(|e| e.text),
                clear_stopped(path(), text, None),
                add_services(path(), text, &["redis"]),
                remove_services(path(), text, &["postgres"]),
            ];
            for result in results {
                outcomes[usize::from(result.is_ok())] += 1;
            }
        }
    }
    assert!(outcomes[1] > 100 && outcomes[0] > 100, "{outcomes:?}");
}

// ---------------------------------------------------------------------------------------
// Cost: linear in the size of the file
// ---------------------------------------------------------------------------------------

/// Files of one shape, `n` units big.
fn shaped(shape: &str, n: usize) -> String {
    let mut text = String::from("name: shop\n");
    let lines = |f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<String>();
    match shape {
        "a long mapping" => {
            text += "env:\n";
            text += &lines(&|i| format!("  KEY_{i}: value {i}\n"));
        }
        "many top-level keys" => text += &lines(&|i| format!("custom_{i}: {i}\n")),
        "a long list" => {
            text += "hooks:\n";
            text += &lines(&|i| format!("  - item {i} with some words\n"));
        }
        "many services" => {
            text += "services:\n";
            text += &lines(&|i| format!("  - name: svc-{i}\n    image: img:{i}\n"));
        }
        "a flow list on one line" => {
            let items: Vec<String> = (0..n).map(|i| format!("item{i}")).collect();
            text += &format!("hooks: [{}]\n", items.join(", "));
        }
        "a flow mapping on one line" => {
            let items: Vec<String> = (0..n).map(|i| format!("K{i}: \"v {i}\"")).collect();
            text += &format!("env: {{{}}}\n", items.join(", "));
        }
        "quoted scalars" => text += &lines(&|i| format!("q_{i}: \"a \\\"quoted\\\" {i}\"\n")),
        "comments" => text += &lines(&|i| format!("# comment {i}: with some words\n")),
        "tabs after colons" => text += &lines(&|i| format!("key_{i}:\tvalue {i}\n")),
        "a block scalar" => {
            text += "description: |\n";
            text += &lines(&|i| format!("  line {i} of a literal block\n"));
        }
        "nested mappings" => {
            text += "hooks:\n";
            text += &lines(&|i| format!("  k{i}:\n    a: 1\n    b: [x, y]\n"));
        }
        other => unreachable!("{other}"),
    }
    text
}

const SHAPES: &[&str] = &[
    "a long mapping",
    "many top-level keys",
    "a long list",
    "many services",
    "a flow list on one line",
    "a flow mapping on one line",
    "quoted scalars",
    "comments",
    "tabs after colons",
    "a block scalar",
    "nested mappings",
];

/// The work `f` charges (see `span::charge`).
fn cost_of(f: impl FnOnce()) -> u64 {
    let before = span::cost();
    f();
    span::cost() - before
}

/// Reading kilter.yaml (and each edit `stop`/`up` make) costs time linear in its size: four
/// times the file is at most ~four times the work, whatever its shape. The work is counted
/// (characters looked at, keys compared), not timed, so a loaded machine cannot fail it; a
/// line:column lookup that rescanned the file, or a duplicate-key check that compared each key
/// with every other, makes the ratio grow with `n` instead.
#[test]
fn parsing_and_editing_cost_grows_linearly_with_the_file() {
    let n = 400;
    let mut failures = Vec::new();
    let mut check = |what: &str, shape: &str, a: u64, b: u64| {
        assert!(a > 0, "{shape}: nothing was counted");
        if b > 5 * a {
            let ratio = b as f64 / a as f64;
            failures
                .push(format!("{shape}: {what} 4× the file cost {ratio:.1}× the work ({a} → {b})"));
        }
    };
    for shape in SHAPES {
        let (small, big) = (shaped(shape, n), shaped(shape, 4 * n));
        assert!(big.len() > 3 * small.len(), "{shape}");
        let parse_cost = |text: &str| {
            cost_of(|| {
                parse_ok(text);
            })
        };
        check("parsing", shape, parse_cost(&small), parse_cost(&big));

        let edit_cost = |text: &str| {
            cost_of(|| {
                let set = set_stopped(path(), text).expect("set_stopped");
                let back =
                    clear_stopped(path(), &set.text, Some(&set.undo)).expect("clear_stopped");
                assert_eq!(back, text, "{shape}: stop/up keeps every byte");
            })
        };
        check("stop/up editing", shape, edit_cost(&small), edit_cost(&big));
    }
    assert!(failures.is_empty(), "not linear:\n{}", failures.join("\n"));
}

/// A tab after a key's `:` is separation whitespace (YAML 1.2 `s-separate-in-line`), as libyaml
/// reads it; the parser kilter uses refuses `name:\tshop`, so kilter reads such a file with
/// those tabs as spaces (the same bytes count, so positions stay right) and keeps the file's
/// own bytes in every edit.
#[test]
fn a_tab_after_a_keys_colon_is_whitespace_and_kept_through_stop_and_up() {
    for (text, name, image) in [
        ("name:\tshop\n", "shop", None),
        ("name:\t\tshop  # c\n", "shop", None),
        ("name: \tshop\n", "shop", None),
        (
            "name:\tshop\nkind:\n  image:\tkindest/node:v1.31.0\n",
            "shop",
            Some("kindest/node:v1.31.0"),
        ),
        ("{name:\tshop, kind: {image:\t-x}}\n", "shop", Some("-x")),
        ("name:\t'shop'\r\n", "shop", None),
    ] {
        let (config, _) = parse_ok(text);
        assert_eq!(config.name.as_deref(), Some(name), "{text:?}");
        assert_eq!(config.kind.image.as_deref(), image, "{text:?}");
        let set = set_stopped(path(), text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let tabs = |t: &str| t.matches('\t').count();
        assert_eq!(tabs(&set.text), tabs(text), "{text:?} → {:?}", set.text);
        let head = text.split([',', '\n']).next().unwrap_or_default();
        assert!(set.text.starts_with(head), "{text:?} → {:?}", set.text);
        assert!(parse_ok(&set.text).0.cluster.stopped, "{text:?}");
        assert_eq!(clear_stopped(path(), &set.text, Some(&set.undo)).expect("undo"), text);
        assert_eq!(clear_stopped(path(), &set.text, None).expect("clear"), text);
    }
    // Tabs that are content stay content: in quoted and block scalars, after a `:` too.
    let text =
        "name:\tshop\ndescription: \"a:\\tb c:\tdone\"\nnote: |\n  key:\tvalue\ntilt: 'x:\ty'\n";
    let tree = span::parse(text).map_err(|p| p.message).expect("parses");
    let root = tree.root.as_ref().expect("a root");
    let value = |key: &str| root.get(key).map(|(_, v)| v).expect(key);
    assert_eq!(value("description").text(), Some("a:\tb c:\tdone"));
    assert_eq!(value("note").text(), Some("key:\tvalue\n"));
    assert_eq!(value("tilt").text(), Some("x:\ty"));
    assert_eq!(value("name").pos, Pos { line: 1, col: 7 });
    // A real error elsewhere is still reported where it is.
    let err = parse_err("name:\tshop\nkind: [\n");
    assert!(err.to_string().contains("/p/kilter.yaml:"), "{err}");
    assert!(!err.to_string().contains("valid YAML whitespace"), "{err}");
    // Tabs as indentation stay an error.
    let err = parse_err("name: shop\nkind:\n\timage: x\n");
    assert!(err.to_string().contains("tab character in indentation"), "{err}");
}

// ---------------------------------------------------------------------------------------
// The app's fields
// ---------------------------------------------------------------------------------------

const APP: &str = "\
name: shop
image: node:22-alpine   # base of the dev image
dev: npm run dev -- --port 4000
port: 4000
health: /healthz
env:
  LOG_LEVEL: debug
  WORKERS: 2
  EMPTY:
sync: [src, public]
";

#[test]
fn the_app_fields_parse_with_their_positions() {
    let (config, warnings) = parse_ok(APP);
    assert!(warnings.is_empty(), "{warnings:?}");
    let app = &config.app;
    assert!(app.is_declared());
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
    assert!(!config.app.is_declared());
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

/// Every edit kilter makes keeps the app's fields byte for byte, in every style.
#[test]
fn edits_keep_the_app_fields_byte_for_byte() {
    let flow = "{name: shop, port: 3000, env: {A: \"1\"}, sync: [src], dev: [node, server.js]}\n";
    let commented = "\
# the app
image: python:3.12-slim      # base
dev: >-
  uvicorn main:app
  --reload --host 0.0.0.0
port: 8000 # uvicorn
health: \"/health?full=1\"
env:
  # quoted, numbers, booleans
  A: 'x y'
  B: 0x10
  C: yes
sync:
- app
- pyproject.toml
";
    for text in [APP, flow, commented, &APP.replace('\n', "\r\n")] {
        let before = parse_ok(text).0.app;
        let set = set_stopped(path(), text).expect("set").text;
        assert!(set.contains(text.trim_end_matches(['\n', '\r', '}'])), "{text:?} → {set:?}");
        assert_eq!(parse_ok(&set).0.app, before, "{set:?}");
        assert_eq!(without(&set), text);
        let added = add(text, &["redis"]);
        assert_eq!(parse_ok(&added).0.app, before, "{added:?}");
        assert_eq!(parse_ok(&remove(&added, &["redis"])).0.app, before);
        // The bytes of each app field survive the edit unchanged.
        for key in ["image:", "dev:", "port:", "health:", "env:", "sync:"] {
            if let Some(at) = text.find(key) {
                let line = &text[at..text[at..].find([',', '\n']).map_or(text.len(), |e| at + e)];
                assert!(added.contains(line), "{key} of {text:?} changed: {added:?}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// routes:
// ---------------------------------------------------------------------------------------

const ROUTES: &str = "\
name: shop
services: [redis]
routes:
  web: {service: web, port: 80}   # the user's own Service
  api-v2:
    service: api
    port: 8080
";

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
    ] {
        let err = parse_err(text);
        assert_eq!(err.code, Code::Invalid, "{text:?}");
        assert!(err.to_string().contains(wanted), "{text:?}: {err}");
    }
}

/// Every edit kilter makes keeps `routes:` byte for byte.
#[test]
fn edits_keep_routes_byte_for_byte() {
    let block = "routes:\n  web: {service: web, port: 80}   # the user's own Service\n  api-v2:\n    service: api\n    port: 8080\n";
    for text in [ROUTES.to_owned(), ROUTES.replace('\n', "\r\n")] {
        let before = parse_ok(&text).0.routes;
        let set = set_stopped(path(), &text).expect("set").text;
        assert_eq!(without(&set), text);
        let added = add(&text, &["mailpit"]);
        let removed = remove(&added, &["redis"]);
        for edited in [&set, &added, &removed] {
            let crlf = edited.contains("\r\n");
            let want = if crlf { block.replace('\n', "\r\n") } else { block.to_owned() };
            assert!(edited.contains(&want), "routes changed: {edited:?}");
            let after = parse_ok(edited).0.routes;
            let names: Vec<_> =
                after.iter().map(|r| (&r.name.value, &r.service.value, r.port.value)).collect();
            let was: Vec<_> =
                before.iter().map(|r| (&r.name.value, &r.service.value, r.port.value)).collect();
            assert_eq!(names, was);
        }
    }
    // `kilter add` of a route's name would make a clash: refused, nothing written.
    let err = add_services(path(), ROUTES, &["web"]).expect_err("a clash");
    assert_eq!(err.code, Code::Invalid);
}
