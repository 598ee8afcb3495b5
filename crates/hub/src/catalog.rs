//! The one catalog: every child's tools, prompts, resources and resource templates under
//! deterministic, collision-free exposed names, the lookup tables that route an exposed name or
//! URI back to its child, and name-keyed pagination whose cursors survive catalog changes.
//!
//! Naming: `<server><separator><name>`, always `^[a-zA-Z0-9_-]{1,64}$` — other characters
//! become `_`, and a name that is too long (or collides after that) is cut and given a stable
//! `-xxxxxxxx` hash suffix of the original. Resource URIs stay as they are when unique; a URI
//! that two children (or Fusion itself) use becomes `fusion://mcp/<server>/<uri>`.

use std::collections::{BTreeMap, HashMap, HashSet};

use rmcp::model::{Prompt, Resource, ResourceTemplate, Tool};

use super::template::UriTemplate;

/// Longest exposed tool or prompt name (the common client limit).
pub const MAX_NAME: usize = 64;

/// Where an exposed name points: the child and the child's own name for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub server: String,
    pub name: String,
}

/// One child's lists, as the child reported them (tools already filtered by allow/deny).
#[derive(Debug, Clone, Default)]
pub struct ChildLists {
    /// The child is down: its tools are not listed, but calls to them are recognised (and
    /// answered with the child's state); its names stay reserved so nothing is renamed.
    pub down: bool,
    pub tools: Vec<Tool>,
    pub prompts: Vec<Prompt>,
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
}

/// How exposed names are formed.
#[derive(Debug, Clone)]
pub struct Naming {
    pub separator: String,
    /// No prefixes at all (one child, passthrough mode).
    pub passthrough: bool,
    /// Names (tools, prompts) and URIs that Fusion itself uses.
    pub reserved_names: HashSet<String>,
    pub reserved_uris: HashSet<String>,
}

/// Which of a catalog's lists differ from another's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    pub tools: bool,
    pub prompts: bool,
    pub resources: bool,
}

impl Changes {
    /// Every list changed (Fusion's own items came or went with the hub's mode).
    pub fn all() -> Self {
        Self {
            tools: true,
            prompts: true,
            resources: true,
        }
    }

    pub fn any(self) -> bool {
        self.tools || self.prompts || self.resources
    }
}

/// The merged catalog. Items are sorted by exposed name (URI for resources).
#[derive(Debug, Default)]
pub struct Catalog {
    tools: BTreeMap<String, (Target, Tool)>,
    /// Tools of children that are down, by exposed name.
    down_tools: BTreeMap<String, Target>,
    prompts: BTreeMap<String, (Target, Prompt)>,
    resources: BTreeMap<String, (Target, Resource)>,
    templates: Vec<(String, Target, ResourceTemplate, UriTemplate)>,
}

impl Catalog {
    /// Builds the catalog from `children` (server name → lists, in config order).
    pub fn build(naming: &Naming, children: &[(String, ChildLists)]) -> Self {
        let mut catalog = Catalog::default();
        let mut taken: HashSet<String> = naming.reserved_names.clone();
        for (server, lists) in children {
            for tool in &lists.tools {
                let exposed = unique_name(naming, server, &tool.name, &mut taken);
                let mut shown = tool.clone();
                shown.name = exposed.clone().into();
                let target = Target {
                    server: server.clone(),
                    name: tool.name.to_string(),
                };
                if lists.down {
                    catalog.down_tools.insert(exposed, target);
                } else {
                    catalog.tools.insert(exposed, (target, shown));
                }
            }
        }
        let mut taken: HashSet<String> = naming.reserved_names.clone();
        for (server, lists) in children {
            for prompt in &lists.prompts {
                let exposed = unique_name(naming, server, &prompt.name, &mut taken);
                let mut shown = prompt.clone();
                shown.name = exposed.clone();
                let target = Target {
                    server: server.clone(),
                    name: prompt.name.clone(),
                };
                if !lists.down {
                    catalog.prompts.insert(exposed, (target, shown));
                }
            }
        }
        // A URI used by more than one child (or by Fusion) is rewritten for every child.
        let mut uri_owners: HashMap<&str, usize> = HashMap::new();
        for (_, lists) in children {
            let mut seen = HashSet::new();
            for resource in &lists.resources {
                if seen.insert(resource.uri.as_str()) {
                    *uri_owners.entry(resource.uri.as_str()).or_default() += 1;
                }
            }
        }
        for (server, lists) in children.iter().filter(|(_, l)| !l.down) {
            for resource in &lists.resources {
                let shared = uri_owners.get(resource.uri.as_str()).copied().unwrap_or(0) > 1
                    || naming.reserved_uris.contains(&resource.uri);
                let exposed = if shared && !naming.passthrough {
                    rewritten_uri(server, &resource.uri)
                } else {
                    resource.uri.clone()
                };
                let mut shown = resource.clone();
                shown.uri = exposed.clone();
                let target = Target {
                    server: server.clone(),
                    name: resource.uri.clone(),
                };
                catalog.resources.entry(exposed).or_insert((target, shown));
            }
        }
        // Templates likewise: one used by more than one child (or by Fusion: a child that is
        // itself a Fusion offers `fusion://tasks/{id}` too) is rewritten for every child.
        let mut template_owners: HashMap<&str, usize> = HashMap::new();
        for (_, lists) in children {
            let mut seen = HashSet::new();
            for template in &lists.templates {
                if seen.insert(template.uri_template.as_str()) {
                    *template_owners
                        .entry(template.uri_template.as_str())
                        .or_default() += 1;
                }
            }
        }
        for (server, lists) in children.iter().filter(|(_, l)| !l.down) {
            for template in &lists.templates {
                let original = &template.uri_template;
                let shared = template_owners.get(original.as_str()).copied().unwrap_or(0) > 1
                    || naming.reserved_uris.contains(original);
                let exposed = if shared && !naming.passthrough {
                    rewritten_uri(server, original)
                } else {
                    original.clone()
                };
                let target = Target {
                    server: server.clone(),
                    name: original.clone(),
                };
                let mut shown = template.clone();
                shown.uri_template = exposed.clone();
                let matcher = UriTemplate::parse(&exposed);
                catalog.templates.push((exposed, target, shown, matcher));
            }
        }
        catalog
    }

    /// What differs between this catalog and `next`, as a client would see it.
    pub fn changes_to(&self, next: &Catalog) -> Changes {
        fn same<V: PartialEq>(
            a: &BTreeMap<String, (Target, V)>,
            b: &BTreeMap<String, (Target, V)>,
        ) -> bool {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, (_, va)), (kb, (_, vb)))| ka == kb && va == vb)
        }
        let templates_same = self.templates.len() == next.templates.len()
            && self
                .templates
                .iter()
                .zip(&next.templates)
                .all(|(a, b)| a.2 == b.2);
        Changes {
            tools: !same(&self.tools, &next.tools),
            prompts: !same(&self.prompts, &next.prompts),
            resources: !same(&self.resources, &next.resources) || !templates_same,
        }
    }

    pub fn tool(&self, exposed: &str) -> Option<&(Target, Tool)> {
        self.tools.get(exposed)
    }

    /// The owner of a tool whose child is down now.
    pub fn down_tool(&self, exposed: &str) -> Option<&Target> {
        self.down_tools.get(exposed)
    }

    pub fn prompt(&self, exposed: &str) -> Option<&(Target, Prompt)> {
        self.prompts.get(exposed)
    }

    /// The child and the child's URI for an exposed URI: a listed resource first, then the
    /// first template (in config order) that matches, then a rewritten URI's own prefix.
    pub fn resource_target(&self, uri: &str) -> Option<Target> {
        if let Some((target, _)) = self.resources.get(uri) {
            return Some(target.clone());
        }
        if let Some((exposed, target, _, _)) = self
            .templates
            .iter()
            .find(|(_, _, _, matcher)| matcher.matches(uri))
        {
            // A rewritten template's URIs go to the child without the rewrite.
            let name = if *exposed == target.name {
                uri
            } else {
                let prefix = rewritten_uri(&target.server, "");
                uri.strip_prefix(&prefix).unwrap_or(uri)
            };
            return Some(Target {
                server: target.server.clone(),
                name: name.to_owned(),
            });
        }
        let rest = uri.strip_prefix(REWRITE_PREFIX)?;
        let (server, original) = rest.split_once('/')?;
        Some(Target {
            server: server.to_owned(),
            name: original.to_owned(),
        })
    }

    /// The exposed URI for a child's URI (for relaying `resources/updated`).
    pub fn exposed_uri(&self, server: &str, uri: &str) -> String {
        self.resources
            .iter()
            .find(|(_, (target, _))| target.server == server && target.name == uri)
            .map(|(exposed, _)| exposed.clone())
            .unwrap_or_else(|| uri.to_owned())
    }

    /// The template owning a `ref/resource` completion reference.
    pub fn template_target(&self, uri_template: &str) -> Option<&Target> {
        self.templates
            .iter()
            .find(|(exposed, _, _, _)| exposed == uri_template)
            .map(|(_, target, _, _)| target)
    }

    pub fn tools(&self) -> impl Iterator<Item = (&Target, &Tool)> {
        self.tools.values().map(|(t, tool)| (t, tool))
    }

    pub fn tool_count(&self, server: &str) -> usize {
        self.tools
            .values()
            .filter(|(t, _)| t.server == server)
            .count()
    }

    pub fn tools_page(&self, after: Option<&str>, size: usize) -> (Vec<Tool>, Option<String>) {
        page(&self.tools, after, size)
    }

    pub fn prompts_page(&self, after: Option<&str>, size: usize) -> (Vec<Prompt>, Option<String>) {
        page(&self.prompts, after, size)
    }

    pub fn resources_page(
        &self,
        after: Option<&str>,
        size: usize,
    ) -> (Vec<Resource>, Option<String>) {
        page(&self.resources, after, size)
    }

    pub fn templates(&self) -> Vec<ResourceTemplate> {
        self.templates
            .iter()
            .map(|(_, _, t, _)| t.clone())
            .collect()
    }
}

/// Items after the key `after` (exclusive), at most `size`, and the cursor of the next page.
/// A cursor is the last key served, so it stays meaningful when items come and go.
fn page<V: Clone>(
    items: &BTreeMap<String, (Target, V)>,
    after: Option<&str>,
    size: usize,
) -> (Vec<V>, Option<String>) {
    use std::ops::Bound;
    let start = match after {
        Some(key) => Bound::Excluded(key.to_owned()),
        None => Bound::Unbounded,
    };
    let mut out: Vec<(&String, &V)> = items
        .range((start, Bound::Unbounded))
        .take(size.saturating_add(1))
        .map(|(k, (_, v))| (k, v))
        .collect();
    let next = if out.len() > size {
        out.truncate(size);
        out.last().map(|(k, _)| (*k).clone())
    } else {
        None
    };
    (out.into_iter().map(|(_, v)| v.clone()).collect(), next)
}

const REWRITE_PREFIX: &str = "fusion://mcp/";

fn rewritten_uri(server: &str, uri: &str) -> String {
    format!("{REWRITE_PREFIX}{server}/{uri}")
}

/// The exposed name for `name` of `server`, unique among `taken` (which it joins).
fn unique_name(naming: &Naming, server: &str, name: &str, taken: &mut HashSet<String>) -> String {
    let full = if naming.passthrough {
        name.to_owned()
    } else {
        format!("{server}{}{name}", naming.separator)
    };
    let mut exposed = exposed_name(&full);
    let mut salt = 0u32;
    while taken.contains(&exposed) {
        salt += 1;
        exposed = with_suffix(&sanitize(&full), &format!("{full}#{salt}"));
    }
    taken.insert(exposed.clone());
    exposed
}

/// `full` made valid: other characters become `_`; too long (or empty) gets a hash suffix.
pub fn exposed_name(full: &str) -> String {
    let clean = sanitize(full);
    if clean.is_empty() || clean.len() > MAX_NAME {
        with_suffix(&clean, full)
    } else {
        clean
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if fusion_core::config::is_name_char(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `clean` cut to fit, plus `-` and 8 hex digits of a stable hash of `seed`.
fn with_suffix(clean: &str, seed: &str) -> String {
    let suffix = format!("-{:08x}", fnv1a(seed.as_bytes()));
    let keep = MAX_NAME - suffix.len();
    // `clean` is ASCII, so any byte index is a char boundary.
    let head = &clean[..clean.len().min(keep)];
    format!("{head}{suffix}")
}

/// 32-bit FNV-1a: stable across runs and platforms (names must not change between restarts).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |hash, b| {
        (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::JsonObject;
    use std::sync::Arc;

    fn tool(name: &str) -> Tool {
        Tool::new(name.to_owned(), "d", Arc::new(JsonObject::new()))
    }

    fn naming() -> Naming {
        Naming {
            separator: "__".into(),
            passthrough: false,
            reserved_names: ["fusion_ask".to_owned()].into(),
            reserved_uris: ["fusion://status".to_owned()].into(),
        }
    }

    fn valid(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= MAX_NAME
            && name.chars().all(fusion_core::config::is_name_char)
    }

    fn lists(tools: &[&str]) -> ChildLists {
        ChildLists {
            tools: tools.iter().map(|t| tool(t)).collect(),
            ..ChildLists::default()
        }
    }

    #[test]
    fn tools_are_prefixed_with_their_server_and_route_back() {
        let catalog = Catalog::build(
            &naming(),
            &[
                ("fs".into(), lists(&["read_file"])),
                ("git".into(), lists(&["read_file"])),
            ],
        );
        let (target, shown) = catalog.tool("git__read_file").unwrap();
        assert_eq!(target.server, "git");
        assert_eq!(target.name, "read_file");
        assert_eq!(shown.name, "git__read_file");
        assert!(catalog.tool("fs__read_file").is_some());
        assert!(catalog.tool("read_file").is_none());
    }

    #[test]
    fn invalid_characters_become_underscores_and_long_names_get_a_stable_hash() {
        assert_eq!(exposed_name("time__get.time now"), "time__get_time_now");
        let long = format!("srv__{}", "x".repeat(100));
        let a = exposed_name(&long);
        assert_eq!(a.len(), MAX_NAME);
        assert!(valid(&a));
        assert_eq!(a, exposed_name(&long), "the same input gives the same name");
        assert_ne!(a, exposed_name(&format!("{long}y")));
    }

    #[test]
    fn names_that_collide_after_sanitizing_stay_distinct_and_valid() {
        let catalog = Catalog::build(&naming(), &[("s".into(), lists(&["a.b", "a_b", "a b"]))]);
        let names: Vec<&str> = catalog.tools().map(|(_, t)| t.name.as_ref()).collect();
        assert_eq!(names.len(), 3);
        assert!(names.iter().all(|n| valid(n)), "{names:?}");
        let targets: HashSet<&str> = catalog.tools().map(|(t, _)| t.name.as_str()).collect();
        assert_eq!(targets.len(), 3);
    }

    #[test]
    fn reserved_names_are_never_given_to_a_child() {
        let mut n = naming();
        n.separator = "_".into();
        let catalog = Catalog::build(&n, &[("fusion".into(), lists(&["ask"]))]);
        let names: Vec<&str> = catalog.tools().map(|(_, t)| t.name.as_ref()).collect();
        assert_eq!(names.len(), 1);
        assert_ne!(names[0], "fusion_ask");
        assert!(valid(names[0]));
    }

    #[test]
    fn a_down_childs_tools_are_unlisted_but_known_and_keep_their_names() {
        let mut down = lists(&["echo"]);
        down.down = true;
        let catalog = Catalog::build(
            &naming(),
            &[("a".into(), down), ("b".into(), lists(&["x"]))],
        );
        assert!(catalog.tool("a__echo").is_none());
        assert_eq!(catalog.down_tool("a__echo").unwrap().server, "a");
        let names: Vec<&str> = catalog.tools().map(|(_, t)| t.name.as_ref()).collect();
        assert_eq!(names, ["b__x"]);
    }

    #[test]
    fn passthrough_keeps_names_unprefixed() {
        let mut n = naming();
        n.passthrough = true;
        let catalog = Catalog::build(&n, &[("only".into(), lists(&["echo"]))]);
        assert_eq!(catalog.tool("echo").unwrap().0.server, "only");
    }

    fn resource(uri: &str) -> Resource {
        Resource::new(uri, uri)
    }

    #[test]
    fn unique_uris_stay_and_shared_ones_are_rewritten_per_server() {
        let a = ChildLists {
            resources: vec![resource("file:///a"), resource("mem://shared")],
            ..ChildLists::default()
        };
        let b = ChildLists {
            resources: vec![resource("mem://shared"), resource("fusion://status")],
            ..ChildLists::default()
        };
        let catalog = Catalog::build(&naming(), &[("a".into(), a), ("b".into(), b)]);
        assert_eq!(catalog.resource_target("file:///a").unwrap().server, "a");
        let rewritten = catalog
            .resource_target("fusion://mcp/b/mem://shared")
            .unwrap();
        assert_eq!(
            (rewritten.server.as_str(), rewritten.name.as_str()),
            ("b", "mem://shared")
        );
        assert!(catalog.resource_target("mem://shared").is_none());
        assert_eq!(
            catalog
                .resource_target("fusion://mcp/b/fusion://status")
                .unwrap()
                .name,
            "fusion://status"
        );
        assert_eq!(
            catalog.exposed_uri("a", "mem://shared"),
            "fusion://mcp/a/mem://shared"
        );
    }

    #[test]
    fn templates_route_matching_uris_to_their_child() {
        let a = ChildLists {
            templates: vec![ResourceTemplate::new("test://item/{id}", "item")],
            ..ChildLists::default()
        };
        let catalog = Catalog::build(&naming(), &[("a".into(), a)]);
        let target = catalog.resource_target("test://item/42").unwrap();
        assert_eq!(
            (target.server.as_str(), target.name.as_str()),
            ("a", "test://item/42")
        );
        assert!(catalog.resource_target("test://other/42").is_none());
    }

    #[test]
    fn a_template_fusion_or_another_child_uses_is_rewritten_and_routed_back() {
        let fusion_child = || ChildLists {
            templates: vec![ResourceTemplate::new("fusion://tasks/{id}", "task")],
            ..ChildLists::default()
        };
        let mut n = naming();
        n.reserved_uris.insert("fusion://tasks/{id}".into());
        let catalog = Catalog::build(&n, &[("inner".into(), fusion_child())]);
        let shown: Vec<String> = catalog
            .templates()
            .into_iter()
            .map(|t| t.uri_template)
            .collect();
        assert_eq!(shown, ["fusion://mcp/inner/fusion://tasks/{id}"]);
        let target = catalog
            .resource_target("fusion://mcp/inner/fusion://tasks/t1")
            .unwrap();
        assert_eq!(
            (target.server.as_str(), target.name.as_str()),
            ("inner", "fusion://tasks/t1")
        );
        // Fusion's own task URIs are not the child's.
        assert!(catalog.resource_target("fusion://tasks/t1").is_none());
        // Two children with one template: both rewritten, each routed to its own.
        let catalog = Catalog::build(
            &naming(),
            &[("a".into(), fusion_child()), ("b".into(), fusion_child())],
        );
        let target = catalog
            .resource_target("fusion://mcp/b/fusion://tasks/t2")
            .unwrap();
        assert_eq!(
            (target.server.as_str(), target.name.as_str()),
            ("b", "fusion://tasks/t2")
        );
    }

    #[test]
    fn pages_follow_names_and_cursors_survive_changes() {
        let names: Vec<String> = (0..5).map(|i| format!("t{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let catalog = Catalog::build(&naming(), &[("s".into(), lists(&refs))]);
        let (first, cursor) = catalog.tools_page(None, 2);
        assert_eq!(first.len(), 2);
        let cursor = cursor.unwrap();
        // The catalog changes between pages (a tool disappears): the cursor still works.
        let fewer = Catalog::build(&naming(), &[("s".into(), lists(&["t0", "t1", "t3", "t4"]))]);
        let (second, next) = fewer.tools_page(Some(&cursor), 2);
        let second: Vec<&str> = second.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(second, ["s__t3", "s__t4"]);
        assert!(next.is_none());
    }
}
