use crate::config::tests::{parse_ok, with, without};
use crate::config::*;

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
