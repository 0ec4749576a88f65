//! Whether a project name still belongs to a directory (`kilter gc`, `kilter stop --all`).

use camino::{Utf8Path, Utf8PathBuf};

use super::{Dirs, Identity, Paths, Project};
use crate::ui::Ui;

/// Whether a project name still belongs to a directory (`kilter gc`, `kilter stop --all`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// The directory is there and still resolves to this project name.
    Here(Utf8PathBuf),
    /// The recorded directory no longer exists.
    Gone(Utf8PathBuf),
    /// The directory is there but now holds another project (its kilter.yaml's `name:`, or
    /// its directory name, differs).
    Other { dir: Utf8PathBuf, name: String },
    /// The directory is there but its kilter.yaml cannot be read: kilter cannot tell.
    Unreadable { dir: Utf8PathBuf, error: String },
    /// No directory is recorded for the name.
    Unknown,
    /// Nothing but its snapshots is left: no cluster, no cache dir, no port slot (`kilter gc`
    /// removed them, or they were removed by hand).
    Forgotten,
}

impl Owner {
    /// The project no longer exists anywhere kilter knows of: the directory recorded for it is
    /// gone (not merely its kilter.yaml), or nothing but its snapshots is left. A directory that
    /// is still there keeps its claim even when it now resolves to another name: its kilter.yaml
    /// may be missing for a moment (a `git checkout`, an editor's save), so only the user, by
    /// naming the project (`kilter gc NAME`), gives such a claim up.
    pub fn vanished(&self) -> bool {
        matches!(self, Owner::Gone(_) | Owner::Forgotten)
    }

    /// Why the project counts as vanished (or what is known about its owner).
    pub fn describe(&self) -> String {
        match self {
            Owner::Here(d) => format!("owned by {d}"),
            Owner::Gone(d) => format!("its directory {d} is gone"),
            Owner::Other { dir, name } => format!(
                "its directory {dir} is still there but now resolves to project `{name}` (its kilter.yaml changed or is missing)"
            ),
            Owner::Unreadable { dir, error } => {
                format!("the kilter.yaml of {dir} cannot be read ({error})")
            }
            Owner::Unknown => "no project directory is recorded for it".to_owned(),
            Owner::Forgotten => {
                "nothing else of the project is left (no cluster, cache dir or port slot)"
                    .to_owned()
            }
        }
    }
}

/// Who owns project name `name`: the directory in its identity record, else `recorded` (the
/// port registry's), resolved the way kilter would resolve it when started there. Prints
/// nothing (another project's notes and warnings are not this command's).
pub fn owner_of(dirs: &Dirs, name: &str, recorded: Option<&Utf8Path>) -> Owner {
    let id = Identity::read(&Paths::new(dirs, name).identity).map(|i| i.dir);
    let Some(dir) = id.or_else(|| recorded.map(Utf8Path::to_owned)) else {
        return Owner::Unknown;
    };
    if !dir.is_dir() {
        return Owner::Gone(dir);
    }
    match Project::resolve(&dir, dirs, &Ui::silent()) {
        Ok(p) if p.name == name => Owner::Here(dir),
        Ok(p) => Owner::Other { dir, name: p.name },
        Err(e) => Owner::Unreadable { dir, error: format!("{e:#}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(root: &Utf8Path) -> Dirs {
        Dirs {
            home: root.join("home"),
            cache: root.join("cache/kilter"),
            data: root.join("data/kilter"),
            state: root.join("state/kilter"),
        }
    }

    fn record(d: &Dirs, name: &str, dir: &Utf8Path) {
        let paths = Paths::new(d, name);
        std::fs::create_dir_all(&paths.cache).expect("mkdir");
        let id =
            Identity { version: 1, dir: dir.to_owned(), created_at: "t".into(), cluster: None };
        std::fs::write(&paths.identity, serde_json::to_string(&id).expect("json")).expect("w");
    }

    #[test]
    fn owners_from_the_identity_record_else_the_registrys_directory() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = Utf8Path::from_path(tmp.path()).expect("utf8").canonicalize_utf8().expect("c");
        let d = dirs(&root);
        let shop = root.join("src/shop");
        std::fs::create_dir_all(&shop).expect("mkdir");
        std::fs::write(shop.join("kilter.yaml"), "name: shop\n").expect("w");

        record(&d, "shop", &shop);
        assert_eq!(owner_of(&d, "shop", None), Owner::Here(shop.clone()));
        // the identity record wins over the registry's directory
        assert_eq!(owner_of(&d, "shop", Some(Utf8Path::new("/nope"))), Owner::Here(shop.clone()));

        std::fs::write(shop.join("kilter.yaml"), "name: shop2\n").expect("w");
        let o = owner_of(&d, "shop", None);
        assert_eq!(o, Owner::Other { dir: shop.clone(), name: "shop2".into() });
        assert!(!o.vanished(), "a live directory keeps its claim");
        assert!(o.describe().contains("now resolves to project `shop2`"));
        // kilter.yaml missing for a moment: the directory's name (`shop` here) decides, and a
        // directory named otherwise still keeps its claim.
        let other_named = root.join("src/my-shop");
        std::fs::create_dir_all(&other_named).expect("mkdir");
        record(&d, "shop", &other_named);
        let o = owner_of(&d, "shop", None);
        assert_eq!(o, Owner::Other { dir: other_named.clone(), name: "my-shop".into() });
        assert!(!o.vanished());
        record(&d, "shop", &shop);

        std::fs::write(shop.join("kilter.yaml"), "name: [unclosed\n").expect("w");
        let o = owner_of(&d, "shop", None);
        assert!(matches!(o, Owner::Unreadable { .. }) && !o.vanished(), "{o:?}");

        // no identity record: the registry's directory; without kilter.yaml, the directory name
        let blog = root.join("src/blog");
        std::fs::create_dir_all(&blog).expect("mkdir");
        assert_eq!(owner_of(&d, "blog", Some(&blog)), Owner::Here(blog.clone()));
        let gone = root.join("src/gone");
        assert_eq!(owner_of(&d, "gone", Some(&gone)), Owner::Gone(gone));
        assert_eq!(owner_of(&d, "nothing", None), Owner::Unknown);
        assert!(!Owner::Unknown.vanished() && Owner::Forgotten.vanished());
    }
}
