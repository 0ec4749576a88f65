//! Services from kilter.yaml (SPEC §11 in the repository docs: README "Services"): the catalog,
//! `up` applying, deleting and waiting, NodePorts, `kilter env`, `add`/`remove`, status and ls.

use crate::helpers::*;
use crate::support::Env;

#[test]
fn smoke() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\nservices: [postgres, redis]\n"), true);
    let out = env.kilter(&dir).args(["up", "--no-tilt"]).output().unwrap();
    eprintln!("{}\n{}", stdout_of(&out), stderr_of(&out));
    let out = env.kilter(&dir).args(["status","--json"]).output().unwrap();
    eprintln!("{}\n{}", stdout_of(&out), stderr_of(&out));
    panic!("look");
}
