//! What a run evaluates: the selection of tools and personas, the (case, tool, sample)
//! items it implies, how many there are and which providers (judges included) they need.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use proximity_program::{Case, Check, Program};
use proximity_providers::Provider;

use super::{RunError, RunOptions};

/// The providers of a program's tools, built once.
pub type Providers = HashMap<String, Arc<dyn Provider>>;

/// Build the providers for `tool_ids`; a tool that cannot be used is an error.
pub fn build_providers(program: &Program, tool_ids: &[String]) -> Result<Providers, RunError> {
    let mut out = Providers::new();
    for id in tool_ids {
        let tool = program
            .tool(id)
            .ok_or_else(|| RunError::UnknownTool(id.clone()))?;
        let p = proximity_providers::build(tool, &program.root).map_err(|source| {
            RunError::Provider {
                tool: id.clone(),
                source,
            }
        })?;
        out.insert(id.clone(), p);
    }
    Ok(out)
}

/// One unit of work.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkItem {
    pub case: usize,
    pub tool: usize,
    pub sample: u32,
}

/// The work a selection implies, in a stable order (case, tool, sample).
pub fn plan(program: &Program, options: &RunOptions) -> Result<Vec<WorkItem>, RunError> {
    let selection = Selection::new(program, options)?;
    let mut items = Vec::new();
    for (ci, case) in program.cases.iter().enumerate() {
        for (tool, sample) in selection.items_of(&case.persona) {
            items.push(WorkItem {
                case: ci,
                tool,
                sample,
            });
        }
    }
    Ok(items)
}

/// Which (tool, sample) pairs a selection runs on a case of each persona.
pub(crate) struct Selection<'p> {
    program: &'p Program,
    options: &'p RunOptions,
    tool_index: HashMap<&'p str, usize>,
}

impl<'p> Selection<'p> {
    /// The selection of `options`; unknown tools or personas are an error.
    pub(crate) fn new(program: &'p Program, options: &'p RunOptions) -> Result<Self, RunError> {
        for t in &options.tools {
            if program.tool(t).is_none() {
                return Err(RunError::UnknownTool(t.clone()));
            }
        }
        for p in &options.personas {
            if program.persona(p).is_none() {
                return Err(RunError::UnknownPersona(p.clone()));
            }
        }
        let tool_index = program
            .tools
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.as_str(), i))
            .collect();
        Ok(Self {
            program,
            options,
            tool_index,
        })
    }

    /// The tools (indexes into the program's) a case of `persona` runs on, in order.
    pub(crate) fn tools_of(&self, persona: &str) -> Vec<usize> {
        if !self.options.personas.is_empty() && !self.options.personas.iter().any(|p| p == persona)
        {
            return Vec::new();
        }
        let ids: Vec<&str> = if self.options.tools.is_empty() {
            self.program
                .tools_for_persona(persona)
                .into_iter()
                .map(|t| t.id.as_str())
                .collect()
        } else {
            self.options.tools.iter().map(String::as_str).collect()
        };
        ids.into_iter()
            .filter_map(|t| self.tool_index.get(t).copied())
            .collect()
    }

    pub(crate) fn samples(&self) -> u32 {
        self.options.samples.max(1)
    }

    /// The (tool, sample) items of a case of `persona`, in the plan's order.
    pub(crate) fn items_of(&self, persona: &str) -> impl Iterator<Item = (usize, u32)> {
        let samples = self.samples();
        self.tools_of(persona)
            .into_iter()
            .flat_map(move |t| (0..samples).map(move |s| (t, s)))
    }
}

/// What a run needs to know of its cases before it reads them: how many each persona
/// has and which judge tools they call.
#[derive(Debug, Clone, Default)]
pub(crate) struct Census {
    per_persona: BTreeMap<String, u64>,
    /// Tools named by judge assertions.
    judge_named: BTreeSet<String>,
    /// Whether a judge names none (it then uses the program's `judge_tool`).
    judge_default: bool,
}

impl Census {
    /// The census of `cases`.
    pub(crate) fn of<'c>(cases: impl IntoIterator<Item = &'c Case>) -> Self {
        let mut census = Self::default();
        for case in cases {
            census.count(case);
        }
        census
    }

    /// Count one case.
    pub(crate) fn count(&mut self, case: &Case) {
        match self.per_persona.get_mut(&case.persona) {
            Some(n) => *n += 1,
            None => {
                self.per_persona.insert(case.persona.clone(), 1);
            }
        }
        for a in case.assertions.iter() {
            if let Check::Judge { tool, .. } = &a.check {
                match tool {
                    Some(t) => {
                        if !self.judge_named.contains(t) {
                            self.judge_named.insert(t.clone());
                        }
                    }
                    None => self.judge_default = true,
                }
            }
        }
    }

    /// The personas of the cases counted.
    pub(crate) fn personas(&self) -> impl Iterator<Item = &str> {
        self.per_persona.keys().map(String::as_str)
    }

    /// How many cases were counted.
    pub(crate) fn cases(&self) -> u64 {
        self.per_persona.values().sum()
    }

    /// How many items a selection runs.
    pub(crate) fn planned(&self, selection: &Selection<'_>) -> u64 {
        self.per_persona
            .iter()
            .map(|(p, n)| n * selection.tools_of(p).len() as u64 * u64::from(selection.samples()))
            .sum()
    }

    /// The tools a selection calls, then the judges not among them.
    pub(crate) fn used_tools(&self, selection: &Selection<'_>) -> Vec<String> {
        let program = selection.program;
        let mut tools: Vec<usize> = Vec::new();
        for p in self.per_persona.keys() {
            for t in selection.tools_of(p) {
                if !tools.contains(&t) {
                    tools.push(t);
                }
            }
        }
        let mut judges = self.judge_named.clone();
        if self.judge_default {
            judges.extend(program.judge_tool.clone());
        }
        with_judges(
            tools.into_iter().map(|t| program.tools[t].id.clone()),
            &judges,
        )
    }
}

/// The tools `items` call, in order of first use, then the judge tools of the program's
/// cases.
pub(crate) fn used_tools(program: &Program, items: &[WorkItem]) -> Vec<String> {
    let mut seen = HashSet::new();
    let tools = items
        .iter()
        .filter(|it| seen.insert(it.tool))
        .map(|it| program.tools[it.tool].id.clone());
    with_judges(tools, &judge_tools(program, &program.cases))
}

/// `tools`, then the judge tools not among them.
pub(crate) fn with_judges(
    tools: impl IntoIterator<Item = String>,
    judges: &BTreeSet<String>,
) -> Vec<String> {
    let mut ids: Vec<String> = tools.into_iter().collect();
    for j in judges {
        if !ids.contains(j) {
            ids.push(j.clone());
        }
    }
    ids
}

/// The tools `cases`' judge assertions call (a judge naming none uses the program's
/// `judge_tool`).
pub(crate) fn judge_tools<'c>(
    program: &Program,
    cases: impl IntoIterator<Item = &'c Case>,
) -> BTreeSet<String> {
    let census = Census::of(cases);
    let mut out = census.judge_named;
    if census.judge_default {
        out.extend(program.judge_tool.clone());
    }
    out
}
