//! Reading a YAML file one list item at a time: builds the same marked-yaml tree as
//! `marked_yaml::parse_yaml_with_options` with [`crate::yaml::loader_options`] (same values,
//! spans and coercion flags), except that each item of one top-level list (a suite's
//! `cases`) is handed to a callback as soon as it is complete and then dropped, so the
//! tree of a whole suite file is never held.
//!
//! It drives yaml-rust2's parser exactly as marked-yaml does and mirrors marked-yaml's
//! loader event by event. Whatever marked-yaml would reject (a scan error, an anchor or
//! alias, a tag, a non-scalar key, a duplicate key, a top level that is not a mapping) makes
//! [`parse_streaming`] give up with `None`: the caller then parses the file with marked-yaml
//! so that the error is reported exactly as before.

use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode, MarkedSequenceNode};
use marked_yaml::{Marker, Node, Span};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker as YamlMarker, TScalarStyle};

#[cfg(test)]
mod tests;

/// Parse the characters `text` (source id `source`) into its top-level mapping. Each item of the list under
/// the top-level key `key` goes to `on_item` together with the top-level mapping as read so
/// far (every key before `key`, with its final value); the returned mapping keeps `key`
/// with an empty list carrying the list's span. `None` when marked-yaml would not load the
/// file as it is.
pub(crate) fn parse_streaming<F, C>(source: usize, text: C, key: &str, on_item: F) -> Option<Node>
where
    F: FnMut(Node, &MarkedMappingNode),
    C: Iterator<Item = char>,
{
    let mut builder = Builder {
        source,
        key,
        stack: Vec::new(),
        document: false,
        done: None,
        failed: false,
        on_item,
    };
    // The events `Parser::load` sends, one document's, without its recursion: it takes a
    // stack frame a level of nesting, and a hostile file 50,000 levels deep overflowed
    // the stack. The builder refuses to go deeper than `yaml::MAX_DEPTH`. As
    // marked-yaml: one document, the rest of the stream is not read.
    let mut parser = Parser::new(text);
    loop {
        let (ev, mark) = parser.next_token().ok()?;
        let last = matches!(ev, Event::DocumentEnd | Event::StreamEnd);
        builder.on_event(ev, mark);
        if builder.failed {
            return None;
        }
        if last {
            break;
        }
    }
    builder.done
}

/// A collection being read.
// One frame per level of nesting: their size does not matter.
#[allow(clippy::large_enum_variant)]
enum Frame {
    Mapping {
        start: Marker,
        map: MarkedMappingNode,
        /// The key whose value comes next; `None` while waiting on a key.
        key: Option<MarkedScalarNode>,
    },
    Sequence {
        start: Marker,
        items: Vec<Node>,
        /// Items go to the callback instead of `items`.
        streamed: bool,
    },
}

struct Builder<'k, F> {
    source: usize,
    key: &'k str,
    stack: Vec<Frame>,
    /// A document has started.
    document: bool,
    done: Option<Node>,
    /// marked-yaml would have stopped with an error here.
    failed: bool,
    on_item: F,
}

impl<F: FnMut(Node, &MarkedMappingNode)> Builder<'_, F> {
    /// marked-yaml's conversion of a yaml-rust2 marker.
    fn marker(&self, mark: YamlMarker) -> Marker {
        Marker::new(self.source, mark.index(), mark.line(), mark.col() + 1)
    }

    /// Whether a collection may start here: the top level must be a mapping and keys must
    /// be scalars.
    fn may_start(&self, mapping: bool) -> bool {
        match self.stack.last() {
            None => mapping && self.document && self.done.is_none(),
            Some(Frame::Mapping { key, .. }) => key.is_some(),
            Some(Frame::Sequence { .. }) => true,
        }
    }

    fn on(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::StreamStart => {
                if self.document || !self.stack.is_empty() {
                    self.failed = true;
                }
            }
            Event::DocumentStart => {
                if self.document {
                    self.failed = true;
                }
                self.document = true;
            }
            Event::MappingStart(anchor, tag) => {
                // Too deep to build (or drop) safely: the whole-file parse, which the
                // loader falls back to, reports where.
                if tag.is_some()
                    || anchor != 0
                    || !self.may_start(true)
                    || self.stack.len() >= crate::yaml::MAX_DEPTH
                {
                    self.failed = true;
                    return;
                }
                self.stack.push(Frame::Mapping {
                    start: mark,
                    map: MarkedMappingNode::new_empty(Span::new_start(mark)),
                    key: None,
                });
            }
            Event::SequenceStart(anchor, tag) => {
                if tag.is_some()
                    || anchor != 0
                    || !self.may_start(false)
                    || self.stack.len() >= crate::yaml::MAX_DEPTH
                {
                    self.failed = true;
                    return;
                }
                let streamed = match self.stack.as_slice() {
                    [Frame::Mapping { key: Some(k), .. }] => k.as_str() == self.key,
                    _ => false,
                };
                self.stack.push(Frame::Sequence {
                    start: mark,
                    items: Vec::new(),
                    streamed,
                });
            }
            Event::Scalar(value, style, anchor, tag) => {
                if tag.is_some() || anchor != 0 {
                    self.failed = true;
                    return;
                }
                let mut node = MarkedScalarNode::new(Span::new_start(mark), value);
                // prevent_coercion: only plain scalars may be read as numbers or booleans.
                node.set_coerce(matches!(style, TScalarStyle::Plain));
                match self.stack.last_mut() {
                    None => self.failed = true,
                    Some(Frame::Mapping {
                        key: key @ None, ..
                    }) => *key = Some(node),
                    Some(_) => self.add(Node::from(node)),
                }
            }
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Mapping {
                    start,
                    mut map,
                    key: None,
                }) => {
                    *map.span_mut() = Span::new_with_marks(start, mark);
                    self.complete(Node::from(map));
                }
                _ => self.failed = true,
            },
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Sequence { start, items, .. }) => {
                    let span = Span::new_with_marks(start, mark);
                    self.complete(Node::from(MarkedSequenceNode::new(span, items)));
                }
                _ => self.failed = true,
            },
            Event::DocumentEnd => {
                if self.done.is_none() {
                    self.failed = true;
                }
            }
            Event::StreamEnd => {
                // An empty stream is an empty mapping.
                if !self.document && self.stack.is_empty() && self.done.is_none() {
                    let span = Span::new_with_marks(mark, mark);
                    self.done = Some(Node::from(MarkedMappingNode::new_empty(span)));
                } else if self.done.is_none() {
                    self.failed = true;
                }
            }
            Event::Alias(_) | Event::Nothing => self.failed = true,
        }
    }

    /// A finished node: the document, or a value of the enclosing collection.
    fn complete(&mut self, node: Node) {
        if self.stack.is_empty() {
            self.done = Some(node);
        } else {
            self.add(node);
        }
    }

    /// Add a value to the innermost collection.
    fn add(&mut self, node: Node) {
        let Self {
            stack,
            on_item,
            failed,
            ..
        } = self;
        let Some((last, outer)) = stack.split_last_mut() else {
            *failed = true;
            return;
        };
        match last {
            Frame::Mapping { map, key, .. } => match key.take() {
                // Duplicate keys are errors (error_on_duplicate_keys).
                Some(k) if !map.contains_key(&k) => {
                    map.insert(k, node);
                }
                _ => *failed = true,
            },
            Frame::Sequence { streamed: true, .. } => match outer.first() {
                Some(Frame::Mapping { map, .. }) => on_item(node, map),
                _ => *failed = true,
            },
            Frame::Sequence { items, .. } => items.push(node),
        }
    }
}

impl<F: FnMut(Node, &MarkedMappingNode)> MarkedEventReceiver for Builder<'_, F> {
    fn on_event(&mut self, ev: Event, mark: YamlMarker) {
        // As marked-yaml: after an error, later events are ignored.
        if self.failed {
            return;
        }
        let mark = self.marker(mark);
        self.on(ev, mark);
    }
}
