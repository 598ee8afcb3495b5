//! The dashboard's HTML shells: one layout (navigation, the key form, the alert and status
//! regions) around each page's own main part, both embedded from `assets/`. Nothing here
//! depends on a request: the scripts read the page's data from the API.

/// A dashboard page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Tasks,
    Councils,
    CouncilTrace,
    Models,
    Usage,
    Mcp,
    Bench,
    NotFound,
}

const LAYOUT: &str = include_str!("assets/layout.html");

/// Every page's main part, in the order the templates are hashed into the asset version.
const MAINS: [&str; 8] = [
    include_str!("assets/tasks.html"),
    include_str!("assets/councils.html"),
    include_str!("assets/council.html"),
    include_str!("assets/models.html"),
    include_str!("assets/usage.html"),
    include_str!("assets/mcp.html"),
    include_str!("assets/bench.html"),
    include_str!("assets/notfound.html"),
];

impl Page {
    /// The pages with a path of their own (the trace's path carries an id).
    pub const LISTED: [Page; 6] = [
        Self::Tasks,
        Self::Councils,
        Self::Models,
        Self::Usage,
        Self::Mcp,
        Self::Bench,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Self::Tasks => "/ui/tasks",
            Self::Councils => "/ui/councils",
            Self::Models => "/ui/models",
            Self::Usage => "/ui/usage",
            Self::Mcp => "/ui/mcp",
            Self::Bench => "/ui/bench",
            Self::CouncilTrace | Self::NotFound => "",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Tasks => "Tasks and queue",
            Self::Councils => "Councils",
            Self::CouncilTrace => "Council trace",
            Self::Models => "Models and routing",
            Self::Usage => "Usage and cost",
            Self::Mcp => "MCP servers",
            Self::Bench => "Benchmarks",
            Self::NotFound => "No such page",
        }
    }

    /// The page's script under `/ui/assets/` (without `.js`), and its main part.
    fn parts(self) -> (&'static str, &'static str) {
        match self {
            Self::Tasks => ("tasks", MAINS[0]),
            Self::Councils => ("councils", MAINS[1]),
            Self::CouncilTrace => ("council", MAINS[2]),
            Self::Models => ("models", MAINS[3]),
            Self::Usage => ("usage", MAINS[4]),
            Self::Mcp => ("mcp", MAINS[5]),
            Self::Bench => ("bench", MAINS[6]),
            Self::NotFound => ("app", MAINS[7]),
        }
    }

    /// The navigation entry this page is under.
    fn section(self) -> Option<Page> {
        match self {
            Self::CouncilTrace => Some(Self::Councils),
            Self::NotFound => None,
            other => Some(other),
        }
    }

    /// The short name in the navigation.
    fn nav_name(self) -> &'static str {
        match self {
            Self::Tasks => "Tasks",
            Self::Councils | Self::CouncilTrace => "Councils",
            Self::Models => "Models",
            Self::Usage => "Usage",
            Self::Mcp => "MCP servers",
            Self::Bench => "Benchmarks",
            Self::NotFound => "",
        }
    }
}

/// The texts a page is made of (for the asset version).
pub fn templates() -> impl Iterator<Item = &'static str> {
    std::iter::once(LAYOUT).chain(MAINS)
}

/// The page's HTML, its assets named with `?v=version`.
pub fn render(page: Page, version: &str) -> String {
    let (script, main) = page.parts();
    let mut nav = String::new();
    for listed in Page::LISTED {
        let current = if page.section() == Some(listed) {
            " aria-current=\"page\""
        } else {
            ""
        };
        let slug = listed.parts().0;
        nav.push_str(&format!(
            "<li><a id=\"nav-{slug}\" href=\"{}\"{current}>{}</a></li>",
            listed.path(),
            listed.nav_name()
        ));
    }
    let script_tag = if script == "app" {
        String::new()
    } else {
        format!("<script src=\"/ui/assets/{script}.js?v={version}\" defer></script>")
    };
    LAYOUT
        .replace("{{nav}}", &nav)
        .replace("{{page_script}}", &script_tag)
        .replace("{{main}}", main)
        .replace("{{title}}", page.title())
        .replace("{{page}}", script)
        .replace("{{v}}", version)
}
