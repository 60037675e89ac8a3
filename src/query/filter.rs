//! The `_filter` parameter: FHIR R4 filter grammar (<http://hl7.org/fhir/R4/search_filter.html>)
//! plus the loose forms the ROR IG writes (SPEC §2.7, §6.2).
//!
//! # Grammar
//!
//! ```text
//! filter       = ws* orExpr ws* END
//! orExpr       = andExpr ( ws* OR andExpr )*
//! andExpr      = unary ( ws* AND unary )*
//! unary        = "(" ws* orExpr ws* ")"
//!              / NOT ws* "(" ws* orExpr ws* ")"
//!              / comparison ( ws* OR ws* alternative )*      ; loose: value list
//! comparison   = path ws+ operator ( ws+ / &DQUOTE ) value
//!              / path "=" value                              ; loose: URL-parameter form
//! alternative  = value                                       ; only where no comparison,
//!                                                            ; "(" or "not(" starts
//! path         = pathStart pathChar*                         ; no [filter] sub-paths
//! pathStart    = ALPHA / "_"
//! pathChar     = ALPHA / DIGIT / "_" / "-" / "." / ":"       ; chains, modifiers, _has:
//! operator     = "eq" / "ne" / "co" / "sw" / "ew" / "gt" / "lt" / "ge" / "le" / "ap"
//!              / "sa" / "eb" / "pr" / "po" / "ss" / "sb" / "in" / "ni" / "re"
//! value        = DQUOTE jsonChar* DQUOTE &(ws / ")" / END)   ; escapes: \" \\ \/ \b \f \n \r \t \uXXXX
//!              / bareChar+                                   ; raw, no escapes
//! bareChar     = any character except whitespace and ")"
//! OR / AND / NOT = the words, case-insensitive, followed by ws, "(", ")", DQUOTE or END
//! ws           = Unicode whitespace
//! ```
//!
//! # Choices
//!
//! * **Precedence.** The R4 grammar is flat (`logExp = filter ("and" / "or" filter)+`) and says
//!   nothing about mixing `and` with `or`. Here `and` binds tighter than `or`, both associate
//!   left to right, and nested `And`/`Or` of the same kind are flattened, so `a and (b and c)`
//!   and `a and b and c` give the same AST.
//! * **Value lists.** `specialty eq A or B` (a bare value where an expression is expected, right
//!   after `or`) means `specialty eq A or specialty eq B`: the value inherits the path and
//!   operator of the comparison it follows. The list binds tighter than `and`:
//!   `x eq 1 and y eq 2 or 3` is `x eq 1 and (y eq 2 or y eq 3)`, the reading the IG's
//!   examples suggest. After `or`, a value is an alternative unless it is quoted-or-bare text that
//!   starts a comparison (`name op …` or `name=…`), `(` or `not(`.
//! * **`path=value`** (`_content=cardio`) is kept as [`FilterOp::ParamEquals`]: the parameter with
//!   its URL semantics (`_content` full text, string prefix match…), to be resolved by the
//!   caller like a query-string parameter.
//! * **Not supported.** Sub-filters in paths (`related[type eq has-component].value`), which no
//!   ROR request uses, give a [`FilterError::Unsupported`].
//! * **Hand-written recursive descent** rather than nom: errors must carry a character column
//!   (nom_locate is not available, and nom's `&str` offsets are bytes), the loose value lists
//!   need one-token look-ahead with context (the previous comparison), and every recursion must
//!   check the depth limit before descending. The parser walks a `Vec<char>`, so columns are
//!   character indexes and no slicing can split a UTF-8 character.
//! * **Limits** ([`FilterLimits`]): length (checked first, in characters), nesting depth (each
//!   `(` counts one level; capped at [`HARD_MAX_DEPTH`] whatever the configuration, to bound the
//!   stack), number of comparisons (value-list alternatives included).

use std::fmt;

/// Nesting depth never exceeded, whatever [`FilterLimits::max_depth`] says: it bounds the
/// parser's recursion and the recursion of `Display`, `Drop` and serialization.
pub const HARD_MAX_DEPTH: usize = 256;

/// A parsed `_filter` expression.
///
/// Serializes as `{"type": "and" | "or", "children": [...]}`, `{"type": "not", "expr": ...}` or
/// `{"type": "compare", "path": ..., "op": ..., "value": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FilterExpr {
    /// All children match (at least two after parsing, none of them an `And`).
    And(Vec<FilterExpr>),
    /// Any child matches (at least two after parsing, none of them an `Or`).
    Or(Vec<FilterExpr>),
    /// The expression does not match.
    Not(Box<FilterExpr>),
    /// One comparison.
    Compare {
        /// Parameter path as written: `organization.type:above`, `_has:Task:focus:business-status`.
        path: String,
        /// Comparison operator.
        op: FilterOp,
        /// The value, unquoted, JSON escapes resolved (bare values are kept as written).
        value: String,
    },
}

/// A `_filter` comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterOp {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Contains (strings).
    Co,
    /// Starts with.
    Sw,
    /// Ends with.
    Ew,
    /// Greater than.
    Gt,
    /// Less than.
    Lt,
    /// Greater or equal.
    Ge,
    /// Less or equal.
    Le,
    /// Approximately.
    Ap,
    /// Starts after.
    Sa,
    /// Ends before.
    Eb,
    /// Present (value `true`/`false`).
    Pr,
    /// Period overlaps.
    Po,
    /// Subsumes.
    Ss,
    /// Subsumed by.
    Sb,
    /// In value set.
    In,
    /// Not in value set.
    Ni,
    /// References.
    Re,
    /// `path=value`: the search parameter with its query-string semantics (IG loose form).
    ParamEquals,
}

impl FilterOp {
    /// The keyword operators, in the order of the R4 table.
    pub const KEYWORDS: [FilterOp; 19] = [
        FilterOp::Eq,
        FilterOp::Ne,
        FilterOp::Co,
        FilterOp::Sw,
        FilterOp::Ew,
        FilterOp::Gt,
        FilterOp::Lt,
        FilterOp::Ge,
        FilterOp::Le,
        FilterOp::Ap,
        FilterOp::Sa,
        FilterOp::Eb,
        FilterOp::Pr,
        FilterOp::Po,
        FilterOp::Ss,
        FilterOp::Sb,
        FilterOp::In,
        FilterOp::Ni,
        FilterOp::Re,
    ];

    /// The operator as written in canonical text (`=` for [`FilterOp::ParamEquals`]).
    pub fn as_str(self) -> &'static str {
        match self {
            FilterOp::Eq => "eq",
            FilterOp::Ne => "ne",
            FilterOp::Co => "co",
            FilterOp::Sw => "sw",
            FilterOp::Ew => "ew",
            FilterOp::Gt => "gt",
            FilterOp::Lt => "lt",
            FilterOp::Ge => "ge",
            FilterOp::Le => "le",
            FilterOp::Ap => "ap",
            FilterOp::Sa => "sa",
            FilterOp::Eb => "eb",
            FilterOp::Pr => "pr",
            FilterOp::Po => "po",
            FilterOp::Ss => "ss",
            FilterOp::Sb => "sb",
            FilterOp::In => "in",
            FilterOp::Ni => "ni",
            FilterOp::Re => "re",
            FilterOp::ParamEquals => "=",
        }
    }

    /// The operator for a keyword, case-insensitively (`eq`, `EQ`).
    pub fn from_keyword(keyword: &str) -> Option<FilterOp> {
        FilterOp::KEYWORDS.into_iter().find(|op| op.as_str().eq_ignore_ascii_case(keyword))
    }
}

impl fmt::Display for FilterOp {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Bounds on what a client can make the parser do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterLimits {
    /// Deepest parenthesis nesting (default 16, never more than [`HARD_MAX_DEPTH`]).
    pub max_depth: usize,
    /// Longest expression, in characters (default 4096).
    pub max_len: usize,
    /// Most comparisons, value-list alternatives included (default 256).
    pub max_comparisons: usize,
}

impl Default for FilterLimits {
    fn default() -> Self {
        FilterLimits { max_depth: 16, max_len: 4096, max_comparisons: 256 }
    }
}

/// Why a `_filter` value was rejected; columns are 0-based character indexes.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FilterError {
    /// The text does not follow the grammar.
    #[error("_filter: expected {expected} at column {column}, found {found}")]
    Syntax {
        /// Where the unexpected text starts.
        column: usize,
        /// What the grammar allows there.
        expected: String,
        /// What is there: a quoted excerpt, or `end of input`.
        found: String,
    },
    /// Valid R4 syntax that this server does not implement.
    #[error("_filter: {feature} are not supported (column {column})")]
    Unsupported {
        /// Where the construct starts.
        column: usize,
        /// The construct.
        feature: String,
    },
    /// Parentheses nested deeper than the limit.
    #[error("_filter: nesting deeper than {max_depth} levels at column {column}")]
    TooDeep {
        /// The `(` that goes one level too deep.
        column: usize,
        /// The limit in force.
        max_depth: usize,
    },
    /// The expression is longer than the limit.
    #[error("_filter: expression of {len} characters, longer than the limit of {max_len}")]
    TooLong {
        /// Length of the expression in characters.
        len: usize,
        /// The limit in force.
        max_len: usize,
    },
    /// More comparisons than the limit.
    #[error("_filter: more than {max_comparisons} comparisons at column {column}")]
    TooManyComparisons {
        /// Where the first comparison over the limit starts.
        column: usize,
        /// The limit in force.
        max_comparisons: usize,
    },
}

const EXPECTED_EXPRESSION: &str = "a parameter expression, \"(\" or \"not(\"";
const EXPECTED_OPERATOR: &str =
    "an operator (eq, ne, co, sw, ew, gt, lt, ge, le, ap, sa, eb, pr, po, ss, sb, in, ni, re) or \"=\"";
const EXPECTED_VALUE: &str = "a value";
const EXPECTED_AFTER_OPERATOR: &str = "a space after the operator";
const EXPECTED_AFTER_QUOTED: &str = "a space, \")\" or the end after a quoted value";
const EXPECTED_CLOSING: &str = "\"and\", \"or\" or \")\"";
const EXPECTED_END: &str = "\"and\", \"or\" or end of input";
const EXPECTED_CLOSING_QUOTE: &str = "a closing quote (\") for the string";
const EXPECTED_ESCAPE: &str = "an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)";
const FOUND_EXCERPT_CHARS: usize = 24;

/// Parses a `_filter` value (already percent-decoded) into an expression.
pub fn parse_filter(input: &str, limits: &FilterLimits) -> Result<FilterExpr, FilterError> {
    let len = input.chars().count();
    if len > limits.max_len {
        return Err(FilterError::TooLong { len, max_len: limits.max_len });
    }
    let mut parser = Parser {
        chars: input.chars().collect(),
        position: 0,
        max_depth: limits.max_depth.min(HARD_MAX_DEPTH),
        max_comparisons: limits.max_comparisons,
        comparisons: 0,
    };
    parser.skip_whitespace();
    let expr = parser.parse_or(0)?;
    parser.skip_whitespace();
    if parser.peek().is_some() {
        return Err(parser.syntax_error(EXPECTED_END));
    }
    Ok(expr)
}

struct Parser {
    chars: Vec<char>,
    position: usize,
    max_depth: usize,
    max_comparisons: usize,
    comparisons: usize,
}

fn is_path_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')
}

/// What may follow a keyword (`and`, `or`, `not`, an operator) for it to be one.
fn ends_keyword(next: Option<char>) -> bool {
    next.is_none_or(|c| c.is_whitespace() || matches!(c, '(' | ')' | '"'))
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.peek_at(self.position)
    }

    fn peek_at(&self, position: usize) -> Option<char> {
        self.chars.get(position).copied()
    }

    /// Position of the first non-whitespace character at or after `position`.
    fn skip_whitespace_from(&self, mut position: usize) -> usize {
        while self.peek_at(position).is_some_and(char::is_whitespace) {
            position += 1;
        }
        position
    }

    /// Skips whitespace; tells whether there was any.
    fn skip_whitespace(&mut self) -> bool {
        let start = self.position;
        self.position = self.skip_whitespace_from(start);
        self.position > start
    }

    /// End of the run of characters satisfying `predicate` from `position`.
    fn run_end(&self, position: usize, predicate: impl Fn(char) -> bool) -> usize {
        let mut end = position;
        while self.peek_at(end).is_some_and(&predicate) {
            end += 1;
        }
        end
    }

    fn text(&self, start: usize, end: usize) -> String {
        self.chars.get(start..end).unwrap_or_default().iter().collect()
    }

    /// The ASCII word at `position` and its end.
    fn word_at(&self, position: usize) -> (String, usize) {
        let end = self.run_end(position, |c| c.is_ascii_alphabetic());
        (self.text(position, end), end)
    }

    /// End of the keyword `keyword` if it stands at `position`.
    fn keyword_at(&self, position: usize, keyword: &str) -> Option<usize> {
        let (word, end) = self.word_at(position);
        (word.eq_ignore_ascii_case(keyword) && ends_keyword(self.peek_at(end))).then_some(end)
    }

    /// Whether `not` followed by `(` stands at `position`.
    fn not_paren_at(&self, position: usize) -> bool {
        let (word, end) = self.word_at(position);
        word.eq_ignore_ascii_case("not") && self.peek_at(self.skip_whitespace_from(end)) == Some('(')
    }

    /// Whether a comparison (`path op`, `path=`, or `path[`) starts at `position`.
    fn comparison_at(&self, position: usize) -> bool {
        if !self.peek_at(position).is_some_and(is_path_start) {
            return false;
        }
        let path_end = self.run_end(position, is_path_char);
        match self.peek_at(path_end) {
            Some('=' | '[') => true,
            Some(c) if c.is_whitespace() => {
                let operator_start = self.skip_whitespace_from(path_end);
                let (word, operator_end) = self.word_at(operator_start);
                FilterOp::from_keyword(&word).is_some() && ends_keyword(self.peek_at(operator_end))
            }
            _ => false,
        }
    }

    fn found_at(&self, position: usize) -> String {
        let Some(first) = self.peek_at(position) else {
            return "end of input".to_owned();
        };
        let excerpt = if matches!(first, '(' | ')') || first.is_whitespace() {
            first.to_string()
        } else {
            let end = self.run_end(position, |c| !c.is_whitespace() && !matches!(c, '(' | ')'));
            let shown_end = end.min(position + FOUND_EXCERPT_CHARS);
            let mut excerpt = self.text(position, shown_end);
            if shown_end < end {
                excerpt.push('…');
            }
            excerpt
        };
        format!("{excerpt:?}")
    }

    fn syntax_error_at(&self, column: usize, expected: &str) -> FilterError {
        FilterError::Syntax { column, expected: expected.to_owned(), found: self.found_at(column) }
    }

    fn syntax_error(&self, expected: &str) -> FilterError {
        self.syntax_error_at(self.position, expected)
    }

    fn parse_or(&mut self, depth: usize) -> Result<FilterExpr, FilterError> {
        let mut children = vec![self.parse_and(depth)?];
        loop {
            let keyword_start = self.skip_whitespace_from(self.position);
            let Some(keyword_end) = self.keyword_at(keyword_start, "or") else {
                break;
            };
            self.position = keyword_end;
            self.skip_whitespace();
            children.push(self.parse_and(depth)?);
        }
        Ok(combine(children, Combinator::Or))
    }

    fn parse_and(&mut self, depth: usize) -> Result<FilterExpr, FilterError> {
        let mut children = vec![self.parse_unary(depth)?];
        loop {
            let keyword_start = self.skip_whitespace_from(self.position);
            let Some(keyword_end) = self.keyword_at(keyword_start, "and") else {
                break;
            };
            self.position = keyword_end;
            self.skip_whitespace();
            children.push(self.parse_unary(depth)?);
        }
        Ok(combine(children, Combinator::And))
    }

    fn parse_unary(&mut self, depth: usize) -> Result<FilterExpr, FilterError> {
        if self.peek() == Some('(') {
            return self.parse_parenthesized(depth);
        }
        if self.not_paren_at(self.position) {
            let (_, not_end) = self.word_at(self.position);
            self.position = self.skip_whitespace_from(not_end);
            let inner = self.parse_parenthesized(depth)?;
            return Ok(FilterExpr::Not(Box::new(inner)));
        }
        self.parse_comparison_list()
    }

    /// `( orExpr )`, at the current `(`.
    fn parse_parenthesized(&mut self, depth: usize) -> Result<FilterExpr, FilterError> {
        let inner_depth = depth + 1;
        if inner_depth > self.max_depth {
            return Err(FilterError::TooDeep { column: self.position, max_depth: self.max_depth });
        }
        self.position += 1;
        self.skip_whitespace();
        let inner = self.parse_or(inner_depth)?;
        self.skip_whitespace();
        if self.peek() != Some(')') {
            return Err(self.syntax_error(EXPECTED_CLOSING));
        }
        self.position += 1;
        Ok(inner)
    }

    /// A comparison followed by its `or value` alternatives.
    fn parse_comparison_list(&mut self) -> Result<FilterExpr, FilterError> {
        let (path, op, value) = self.parse_comparison()?;
        let mut alternatives = Vec::new();
        loop {
            let keyword_start = self.skip_whitespace_from(self.position);
            let Some(keyword_end) = self.keyword_at(keyword_start, "or") else {
                break;
            };
            let value_start = self.skip_whitespace_from(keyword_end);
            let starts_something_else = match self.peek_at(value_start) {
                None | Some('(' | ')') => true,
                Some('"') => false,
                Some(_) => self.not_paren_at(value_start) || self.comparison_at(value_start),
            };
            if starts_something_else {
                break;
            }
            self.position = value_start;
            self.count_comparison(value_start)?;
            alternatives.push(self.parse_value()?);
        }
        let first = FilterExpr::Compare { path: path.clone(), op, value };
        if alternatives.is_empty() {
            return Ok(first);
        }
        let mut children = vec![first];
        children.extend(alternatives.into_iter().map(|value| FilterExpr::Compare {
            path: path.clone(),
            op,
            value,
        }));
        Ok(FilterExpr::Or(children))
    }

    fn count_comparison(&mut self, column: usize) -> Result<(), FilterError> {
        self.comparisons += 1;
        if self.comparisons > self.max_comparisons {
            return Err(FilterError::TooManyComparisons { column, max_comparisons: self.max_comparisons });
        }
        Ok(())
    }

    fn parse_comparison(&mut self) -> Result<(String, FilterOp, String), FilterError> {
        let start = self.position;
        if !self.peek().is_some_and(is_path_start) {
            return Err(self.syntax_error(EXPECTED_EXPRESSION));
        }
        self.count_comparison(start)?;
        let path_end = self.run_end(start, is_path_char);
        let path = self.text(start, path_end);
        self.position = path_end;
        match self.peek() {
            Some('=') => {
                self.position += 1;
                let value = self.parse_value()?;
                return Ok((path, FilterOp::ParamEquals, value));
            }
            Some('[') => {
                return Err(FilterError::Unsupported {
                    column: path_end,
                    feature: "path filters with \"[...]\"".to_owned(),
                })
            }
            _ => {}
        }
        if !self.skip_whitespace() {
            return Err(self.syntax_error(EXPECTED_OPERATOR));
        }
        let (word, operator_end) = self.word_at(self.position);
        let op = FilterOp::from_keyword(&word)
            .filter(|_| ends_keyword(self.peek_at(operator_end)))
            .ok_or_else(|| self.syntax_error(EXPECTED_OPERATOR))?;
        self.position = operator_end;
        if self.peek() != Some('"') && !self.skip_whitespace() {
            return Err(self.syntax_error(EXPECTED_AFTER_OPERATOR));
        }
        let value = self.parse_value()?;
        Ok((path, op, value))
    }

    fn parse_value(&mut self) -> Result<String, FilterError> {
        match self.peek() {
            Some('"') => self.parse_quoted(),
            Some(c) if c != ')' && !c.is_whitespace() => {
                let end = self.run_end(self.position, |c| c != ')' && !c.is_whitespace());
                let value = self.text(self.position, end);
                self.position = end;
                Ok(value)
            }
            _ => Err(self.syntax_error(EXPECTED_VALUE)),
        }
    }

    /// A JSON string at the current `"`.
    fn parse_quoted(&mut self) -> Result<String, FilterError> {
        let opening = self.position;
        self.position += 1;
        let mut value = String::new();
        loop {
            let Some(c) = self.peek() else {
                // The opening quote is where the reader must look; what is missing is at the end.
                return Err(FilterError::Syntax {
                    column: opening,
                    expected: EXPECTED_CLOSING_QUOTE.to_owned(),
                    found: self.found_at(self.chars.len()),
                });
            };
            match c {
                '"' => {
                    self.position += 1;
                    break;
                }
                '\\' => value.push(self.parse_escape()?),
                other => {
                    value.push(other);
                    self.position += 1;
                }
            }
        }
        let next = self.peek();
        if next.is_some_and(|c| c != ')' && !c.is_whitespace()) {
            return Err(self.syntax_error(EXPECTED_AFTER_QUOTED));
        }
        Ok(value)
    }

    /// A JSON escape at the current backslash.
    fn parse_escape(&mut self) -> Result<char, FilterError> {
        let escape_start = self.position;
        let invalid = |parser: &Parser| {
            let end = (escape_start + 6).min(parser.chars.len());
            FilterError::Syntax {
                column: escape_start,
                expected: EXPECTED_ESCAPE.to_owned(),
                found: format!("{:?}", parser.text(escape_start, end)),
            }
        };
        let escaped = match self.peek_at(escape_start + 1) {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => {
                let high = self.hex4(escape_start + 2).ok_or_else(|| invalid(self))?;
                self.position = escape_start + 6;
                if !(0xD800..0xDC00).contains(&high) {
                    return char::from_u32(high).ok_or_else(|| invalid(self));
                }
                // A high surrogate must be followed by an escaped low surrogate.
                let low = (self.peek_at(escape_start + 6) == Some('\\')
                    && self.peek_at(escape_start + 7) == Some('u'))
                .then(|| self.hex4(escape_start + 8))
                .flatten()
                .filter(|low| (0xDC00..0xE000).contains(low))
                .ok_or_else(|| invalid(self))?;
                self.position = escape_start + 12;
                let combined = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                return char::from_u32(combined).ok_or_else(|| invalid(self));
            }
            _ => return Err(invalid(self)),
        };
        self.position = escape_start + 2;
        Ok(escaped)
    }

    fn hex4(&self, position: usize) -> Option<u32> {
        (position..position + 4).try_fold(0u32, |acc, at| {
            self.peek_at(at).and_then(|c| c.to_digit(16)).map(|digit| acc * 16 + digit)
        })
    }
}

#[derive(Clone, Copy)]
enum Combinator {
    And,
    Or,
}

/// One child stays itself; children of the same kind are flattened into the parent.
fn combine(children: Vec<FilterExpr>, combinator: Combinator) -> FilterExpr {
    if children.len() == 1 {
        if let Some(only) = children.into_iter().next() {
            return only;
        }
        return FilterExpr::And(Vec::new());
    }
    let mut flat = Vec::with_capacity(children.len());
    for child in children {
        match (combinator, child) {
            (Combinator::And, FilterExpr::And(grandchildren))
            | (Combinator::Or, FilterExpr::Or(grandchildren)) => flat.extend(grandchildren),
            (_, other) => flat.push(other),
        }
    }
    match combinator {
        Combinator::And => FilterExpr::And(flat),
        Combinator::Or => FilterExpr::Or(flat),
    }
}

/// A value written bare when that re-parses to the same string, quoted otherwise.
struct CanonicalValue<'a>(&'a str);

impl fmt::Display for CanonicalValue<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.0;
        let needs_quotes = value.is_empty()
            || value.chars().any(|c| {
                c.is_whitespace() || c.is_control() || matches!(c, '(' | ')' | '"' | '\\' | '[' | ']')
            });
        if !needs_quotes {
            return formatter.write_str(value);
        }
        formatter.write_str("\"")?;
        for c in value.chars() {
            match c {
                '"' => formatter.write_str("\\\"")?,
                '\\' => formatter.write_str("\\\\")?,
                '\n' => formatter.write_str("\\n")?,
                '\r' => formatter.write_str("\\r")?,
                '\t' => formatter.write_str("\\t")?,
                control if control.is_control() => {
                    // Controls above U+FFFF do not exist, so one \u escape is enough.
                    write!(formatter, "\\u{:04x}", u32::from(control))?
                }
                other => write!(formatter, "{other}")?,
            }
        }
        formatter.write_str("\"")
    }
}

impl FilterExpr {
    fn write_joined(
        formatter: &mut fmt::Formatter<'_>,
        children: &[FilterExpr],
        keyword: &str,
    ) -> fmt::Result {
        for (index, child) in children.iter().enumerate() {
            if index > 0 {
                write!(formatter, " {keyword} ")?;
            }
            match child {
                FilterExpr::And(_) | FilterExpr::Or(_) => write!(formatter, "({child})")?,
                FilterExpr::Not(_) | FilterExpr::Compare { .. } => write!(formatter, "{child}")?,
            }
        }
        Ok(())
    }
}

/// Canonical text: every comparison written in full (no value lists), lower-case keywords,
/// compound children of `and`/`or` in parentheses, values quoted only when needed. It parses
/// back to the same expression for any expression the parser produces (flattened, at least two
/// children per `And`/`Or`).
impl fmt::Display for FilterExpr {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterExpr::And(children) => FilterExpr::write_joined(formatter, children, "and"),
            FilterExpr::Or(children) => FilterExpr::write_joined(formatter, children, "or"),
            FilterExpr::Not(inner) => write!(formatter, "not({inner})"),
            FilterExpr::Compare { path, op: FilterOp::ParamEquals, value } => {
                write!(formatter, "{path}={}", CanonicalValue(value))
            }
            FilterExpr::Compare { path, op, value } => {
                write!(formatter, "{path} {op} {}", CanonicalValue(value))
            }
        }
    }
}

/// The serialized shape of [`FilterExpr`]: serde's internal tagging cannot put a tag on a
/// newtype variant holding a sequence (`And(Vec<_>)`), so the variants are mirrored as structs.
#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TaggedFilterExpr<'a> {
    And { children: &'a [FilterExpr] },
    Or { children: &'a [FilterExpr] },
    Not { expr: &'a FilterExpr },
    Compare { path: &'a str, op: FilterOp, value: &'a str },
}

impl serde::Serialize for FilterExpr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let tagged = match self {
            FilterExpr::And(children) => TaggedFilterExpr::And { children },
            FilterExpr::Or(children) => TaggedFilterExpr::Or { children },
            FilterExpr::Not(expr) => TaggedFilterExpr::Not { expr },
            FilterExpr::Compare { path, op, value } => TaggedFilterExpr::Compare { path, op: *op, value },
        };
        tagged.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const R211: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R211-ActiviteOperationnelle/FHIR/TRE-R211-ActiviteOperationnelle";
    const R244: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R244-CategorieOrganisation/FHIR/TRE-R244-CategorieOrganisation";
    const R66: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement";
    const R13: &str = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM";
    const R352: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R352-StatutMetierAnomalie/FHIR/TRE-R352-StatutMetierAnomalie";

    fn cmp(path: &str, op: FilterOp, value: &str) -> FilterExpr {
        FilterExpr::Compare { path: path.to_owned(), op, value: value.to_owned() }
    }

    fn eq(path: &str, value: &str) -> FilterExpr {
        cmp(path, FilterOp::Eq, value)
    }

    fn parse(input: &str) -> FilterExpr {
        match parse_filter(input, &FilterLimits::default()) {
            Ok(expr) => expr,
            Err(error) => panic!("{input:?}: {error}"),
        }
    }

    fn error(input: &str) -> String {
        match parse_filter(input, &FilterLimits::default()) {
            Ok(expr) => panic!("{input:?} parsed as {expr:?}"),
            Err(error) => error.to_string(),
        }
    }

    fn assert_round_trips(expr: &FilterExpr) {
        let text = expr.to_string();
        assert_eq!(&parse(&text), expr, "canonical text {text:?}");
    }

    #[test]
    fn test_uc3_s2_value_list_after_or() {
        let expr = parse(&format!("(specialty eq {R211}|005 or {R211}|481)"));
        assert_eq!(
            expr,
            FilterExpr::Or(vec![
                eq("specialty", &format!("{R211}|005")),
                eq("specialty", &format!("{R211}|481")),
            ])
        );
        assert_round_trips(&expr);
    }

    #[test]
    fn test_uc3_s4_and_of_or_with_quantities() {
        let expr = parse(&format!(
            "(((service-category eq {R244}|102) or (specialty eq {R211}|233)) and \
             (age-range-low le 35|https://unitsofmeasure.org|a and age-range-high ge 35|https://unitsofmeasure.org|a))"
        ));
        assert_eq!(
            expr,
            FilterExpr::And(vec![
                FilterExpr::Or(vec![
                    eq("service-category", &format!("{R244}|102")),
                    eq("specialty", &format!("{R211}|233")),
                ]),
                cmp("age-range-low", FilterOp::Le, "35|https://unitsofmeasure.org|a"),
                cmp("age-range-high", FilterOp::Ge, "35|https://unitsofmeasure.org|a"),
            ])
        );
        assert_round_trips(&expr);
    }

    #[test]
    fn test_uc3_s5_chained_path_with_modifier() {
        let expr =
            parse(&format!("((organization.type:above eq {R66}|189) or (service-category eq {R244}|62))"));
        assert_eq!(
            expr,
            FilterExpr::Or(vec![
                eq("organization.type:above", &format!("{R66}|189")),
                eq("service-category", &format!("{R244}|62")),
            ])
        );
        assert_round_trips(&expr);
    }

    #[test]
    fn test_uc3_s9_and_uc1_quoted_alternatives() {
        assert_eq!(
            parse("(location.address-postalcode eq \"60000\" or \"76620\")"),
            FilterExpr::Or(vec![
                eq("location.address-postalcode", "60000"),
                eq("location.address-postalcode", "76620"),
            ])
        );
        let departments = parse("(address-postalcode eq \"22\" or \"29\" or \"35\" or \"36\")");
        assert_eq!(
            departments,
            FilterExpr::Or(vec![
                eq("address-postalcode", "22"),
                eq("address-postalcode", "29"),
                eq("address-postalcode", "35"),
                eq("address-postalcode", "36"),
            ])
        );
        assert_eq!(
            departments.to_string(),
            "address-postalcode eq 22 or address-postalcode eq 29 or address-postalcode eq 35 \
             or address-postalcode eq 36"
        );
    }

    #[test]
    fn test_uc3_s10_upper_case_or() {
        assert_eq!(
            parse(&format!("(location.commune-cog eq {R13}|18000 OR location.commune-cog eq {R13}|13013)")),
            FilterExpr::Or(vec![
                eq("location.commune-cog", &format!("{R13}|18000")),
                eq("location.commune-cog", &format!("{R13}|13013")),
            ])
        );
    }

    #[test]
    fn test_uc1_ids_and_identifiers() {
        assert_eq!(parse("(_id eq 140 or 141)"), FilterExpr::Or(vec![eq("_id", "140"), eq("_id", "141")]));
        assert_eq!(
            parse("(identifier eq 11/339772 or 11/347254)"),
            FilterExpr::Or(vec![eq("identifier", "11/339772"), eq("identifier", "11/347254")])
        );
    }

    #[test]
    fn test_uc2_s6_last_updated_chains() {
        assert_eq!(
            parse(
                "(_lastUpdated ge 2022-11-06T15:00 or organization._lastUpdated:above ge 2022-11-06T15:00)"
            ),
            FilterExpr::Or(vec![
                cmp("_lastUpdated", FilterOp::Ge, "2022-11-06T15:00"),
                cmp("organization._lastUpdated:above", FilterOp::Ge, "2022-11-06T15:00"),
            ])
        );
        assert_eq!(
            parse(
                "(_lastUpdated ge 2022-11-06T15:00 or organization:above._lastUpdated ge 2022-11-06T15:00)"
            ),
            FilterExpr::Or(vec![
                cmp("_lastUpdated", FilterOp::Ge, "2022-11-06T15:00"),
                cmp("organization:above._lastUpdated", FilterOp::Ge, "2022-11-06T15:00"),
            ])
        );
    }

    #[test]
    fn test_uc3_s12_reverse_chain() {
        assert_eq!(
            parse(&format!("(_has:Task:focus:business-status eq {R352}|02 or {R352}|10)")),
            FilterExpr::Or(vec![
                eq("_has:Task:focus:business-status", &format!("{R352}|02")),
                eq("_has:Task:focus:business-status", &format!("{R352}|10")),
            ])
        );
    }

    #[test]
    fn test_uc6_s2_param_equals() {
        let expr = parse("(_content=cardio or location._content=cardio)");
        assert_eq!(
            expr,
            FilterExpr::Or(vec![
                cmp("_content", FilterOp::ParamEquals, "cardio"),
                cmp("location._content", FilterOp::ParamEquals, "cardio"),
            ])
        );
        assert_eq!(expr.to_string(), "_content=cardio or location._content=cardio");
        assert_eq!(
            parse("_content=cardio or cardiologie"),
            FilterExpr::Or(vec![
                cmp("_content", FilterOp::ParamEquals, "cardio"),
                cmp("_content", FilterOp::ParamEquals, "cardiologie"),
            ])
        );
    }

    #[test]
    fn test_r4_spec_examples() {
        assert_eq!(parse("name eq \"peter\""), eq("name", "peter"));
        assert_eq!(
            parse("given eq \"peter\" and birthdate ge 2014-10-10"),
            FilterExpr::And(vec![eq("given", "peter"), cmp("birthdate", FilterOp::Ge, "2014-10-10")])
        );
        assert_eq!(parse("name co pet"), cmp("name", FilterOp::Co, "pet"));
        assert_eq!(
            parse("code sb http://snomed.info/sct|12345 or code in http://loinc.org/vs/LP1"),
            FilterExpr::Or(vec![
                cmp("code", FilterOp::Sb, "http://snomed.info/sct|12345"),
                cmp("code", FilterOp::In, "http://loinc.org/vs/LP1"),
            ])
        );
        assert_eq!(
            parse("not(status eq completed) and subject re Patient/23"),
            FilterExpr::And(vec![
                FilterExpr::Not(Box::new(eq("status", "completed"))),
                cmp("subject", FilterOp::Re, "Patient/23"),
            ])
        );
        assert_eq!(parse("NOT (a PR true)"), FilterExpr::Not(Box::new(cmp("a", FilterOp::Pr, "true"))));
    }

    #[test]
    fn test_precedence_and_flattening() {
        let (a, b, c, d) = (eq("a", "1"), eq("b", "2"), eq("c", "3"), eq("d", "4"));
        assert_eq!(
            parse("a eq 1 and b eq 2 or c eq 3 and d eq 4"),
            FilterExpr::Or(vec![
                FilterExpr::And(vec![a.clone(), b.clone()]),
                FilterExpr::And(vec![c.clone(), d.clone()]),
            ])
        );
        assert_eq!(
            parse("a eq 1 and (b eq 2 and (c eq 3 and d eq 4))"),
            FilterExpr::And(vec![a.clone(), b.clone(), c.clone(), d.clone()])
        );
        assert_eq!(
            parse("((a eq 1 or b eq 2) or c eq 3)"),
            FilterExpr::Or(vec![a.clone(), b.clone(), c.clone()])
        );
        assert_eq!(
            parse("a eq 1 or a eq 2 or 3"),
            FilterExpr::Or(vec![a.clone(), eq("a", "2"), eq("a", "3")])
        );
        // A value list binds tighter than `and`.
        assert_eq!(
            parse("x eq 1 and y eq 2 or 3"),
            FilterExpr::And(vec![eq("x", "1"), FilterExpr::Or(vec![eq("y", "2"), eq("y", "3")])])
        );
        assert_eq!(parse("  ( ( a eq 1 ) )  "), a);
    }

    #[test]
    fn test_alternative_or_comparison_after_or() {
        // `b eq 2` is a comparison, `b` alone or followed by a non-operator is a value.
        assert_eq!(parse("(a eq 1 or b eq 2)"), FilterExpr::Or(vec![eq("a", "1"), eq("b", "2")]));
        assert_eq!(parse("(a eq 1 or b)"), FilterExpr::Or(vec![eq("a", "1"), eq("a", "b")]));
        assert_eq!(
            parse("(a eq 1 or not(b eq 2))"),
            FilterExpr::Or(vec![eq("a", "1"), FilterExpr::Not(Box::new(eq("b", "2")))])
        );
        // Keywords as paths and values.
        assert_eq!(parse("or eq and or not eq or"), FilterExpr::Or(vec![eq("or", "and"), eq("not", "or")]));
        assert_eq!(parse("a eq \"x\" OR\"y\""), FilterExpr::Or(vec![eq("a", "x"), eq("a", "y")]));
    }

    #[test]
    fn test_quoted_values_and_escapes() {
        assert_eq!(
            parse(r#"name eq "Centre \"hospitalier\" (CH) \\ \/ \u00e9\n\ud83d\ude00""#),
            eq("name", "Centre \"hospitalier\" (CH) \\ / é\n😀")
        );
        assert_eq!(parse(r#"name eq """#), eq("name", ""));
        assert_eq!(parse("name eq\"x\""), eq("name", "x"));
        assert_eq!(parse("name eq hôpital"), eq("name", "hôpital"));
        assert_eq!(parse(r"name eq a\b"), eq("name", r"a\b"));
    }

    #[test]
    fn test_canonical_text() {
        let expr = FilterExpr::Or(vec![
            FilterExpr::And(vec![eq("a", "x y"), FilterExpr::Not(Box::new(eq("b", "(")))]),
            cmp("c", FilterOp::ParamEquals, ""),
            eq("d", "\"q\"\t\u{1}"),
        ]);
        assert_eq!(expr.to_string(), r#"(a eq "x y" and not(b eq "(")) or c="" or d eq "\"q\"\t\u0001""#);
        assert_round_trips(&expr);
    }

    #[test]
    fn test_serialize_shape() {
        let expr = parse("not(a eq 1) and (b eq 2 or c=3)");
        let json = serde_json::to_string(&expr).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"type":"and","children":[{"type":"not","expr":{"type":"compare","path":"a","op":"eq","value":"1"}},{"type":"or","children":[{"type":"compare","path":"b","op":"eq","value":"2"},{"type":"compare","path":"c","op":"param_equals","value":"3"}]}]}"#
        );
    }

    #[test]
    fn test_error_unbalanced_parentheses() {
        assert_eq!(
            error("(specialty eq X|005 or X|481"),
            r#"_filter: expected "and", "or" or ")" at column 28, found end of input"#
        );
        assert_eq!(
            error("(a eq 1))"),
            r#"_filter: expected "and", "or" or end of input at column 8, found ")""#
        );
        assert_eq!(
            error("((a eq 1) b eq 2)"),
            r#"_filter: expected "and", "or" or ")" at column 10, found "b""#
        );
        assert_eq!(
            error(")"),
            r#"_filter: expected a parameter expression, "(" or "not(" at column 0, found ")""#
        );
    }

    #[test]
    fn test_error_missing_value() {
        assert_eq!(error("(specialty eq )"), r#"_filter: expected a value at column 14, found ")""#);
        assert_eq!(
            error("specialty eq"),
            r#"_filter: expected a space after the operator at column 12, found end of input"#
        );
        assert_eq!(error("_content="), r#"_filter: expected a value at column 9, found end of input"#);
        assert_eq!(
            error("(a eq 1 or)"),
            r#"_filter: expected a parameter expression, "(" or "not(" at column 10, found ")""#
        );
        assert_eq!(
            error(""),
            r#"_filter: expected a parameter expression, "(" or "not(" at column 0, found end of input"#
        );
        assert_eq!(
            error("a eq 1 and"),
            r#"_filter: expected a parameter expression, "(" or "not(" at column 10, found end of input"#
        );
    }

    #[test]
    fn test_error_unknown_operator() {
        assert_eq!(
            error("(specialty foo X|1)"),
            "_filter: expected an operator (eq, ne, co, sw, ew, gt, lt, ge, le, ap, sa, eb, pr, po, ss, sb, \
             in, ni, re) or \"=\" at column 11, found \"foo\""
        );
        assert_eq!(
            parse_filter("specialty eqq 1", &FilterLimits::default()),
            Err(FilterError::Syntax {
                column: 10,
                expected: EXPECTED_OPERATOR.to_owned(),
                found: "\"eqq\"".to_owned()
            })
        );
        assert_eq!(
            parse_filter("specialty|x eq 1", &FilterLimits::default()),
            Err(FilterError::Syntax {
                column: 9,
                expected: EXPECTED_OPERATOR.to_owned(),
                found: "\"|x\"".to_owned()
            })
        );
        assert_eq!(
            error("name eq1"),
            "_filter: expected an operator (eq, ne, co, sw, ew, gt, lt, ge, le, ap, sa, eb, pr, po, ss, sb, \
             in, ni, re) or \"=\" at column 5, found \"eq1\""
        );
        assert_eq!(
            error("(name eq)"),
            r#"_filter: expected a space after the operator at column 8, found ")""#
        );
    }

    #[test]
    fn test_error_bad_strings() {
        assert_eq!(
            error(r#"name eq "peter"#),
            r#"_filter: expected a closing quote (") for the string at column 8, found end of input"#
        );
        assert_eq!(
            error(r#"name eq "a\qb""#),
            r#"_filter: expected an escape (\" \\ \/ \b \f \n \r \t \uXXXX) at column 10, found "\\qb\"""#
        );
        assert_eq!(
            error(r#"name eq "\ud83d" "#),
            r#"_filter: expected an escape (\" \\ \/ \b \f \n \r \t \uXXXX) at column 9, found "\\ud83d""#
        );
        assert_eq!(
            error(r#"name eq "a"b"#),
            r#"_filter: expected a space, ")" or the end after a quoted value at column 11, found "b""#
        );
    }

    #[test]
    fn test_error_unsupported_path_filter() {
        assert_eq!(
            error("related[type eq has-component].value gt 5"),
            r#"_filter: path filters with "[...]" are not supported (column 7)"#
        );
    }

    #[test]
    fn test_error_too_deep() {
        let limits = FilterLimits::default();
        let ok = format!("{}a eq 1{}", "(".repeat(16), ")".repeat(16));
        assert_eq!(parse_filter(&ok, &limits), Ok(eq("a", "1")));
        let too_deep = format!("{}a eq 1{}", "(".repeat(17), ")".repeat(17));
        assert_eq!(
            parse_filter(&too_deep, &limits).map_err(|error| error.to_string()),
            Err("_filter: nesting deeper than 16 levels at column 16".to_owned())
        );
        let nots = format!("{}a eq 1{}", "not(".repeat(17), ")".repeat(17));
        assert_eq!(parse_filter(&nots, &limits), Err(FilterError::TooDeep { column: 67, max_depth: 16 }));
        let unbounded =
            FilterLimits { max_depth: usize::MAX, max_len: usize::MAX, max_comparisons: usize::MAX };
        let very_deep = format!("{}a eq 1{}", "(".repeat(100_000), ")".repeat(100_000));
        assert_eq!(
            parse_filter(&very_deep, &unbounded),
            Err(FilterError::TooDeep { column: HARD_MAX_DEPTH, max_depth: HARD_MAX_DEPTH })
        );
    }

    #[test]
    fn test_error_too_long_and_too_many_comparisons() {
        let limits = FilterLimits { max_depth: 16, max_len: 20, max_comparisons: 3 };
        assert_eq!(
            parse_filter("name eq \"éééééééééé\"", &limits).map(|expr| expr.to_string()),
            Ok("name eq éééééééééé".to_owned())
        );
        assert_eq!(
            parse_filter("name eq \"ééééééééééé\"", &limits).map_err(|error| error.to_string()),
            Err("_filter: expression of 21 characters, longer than the limit of 20".to_owned())
        );
        assert_eq!(
            parse_filter("a eq 1 or 2 or 3", &limits).map(|expr| expr.to_string()),
            Ok("a eq 1 or a eq 2 or a eq 3".to_owned())
        );
        assert_eq!(
            parse_filter("a eq 1 or 2 or 3 or 4", &FilterLimits { max_len: 100, ..limits })
                .map_err(|error| error.to_string()),
            Err("_filter: more than 3 comparisons at column 20".to_owned())
        );
    }

    #[test]
    fn test_error_columns_count_characters() {
        assert_eq!(
            parse_filter("(é eq 1)", &FilterLimits::default()),
            Err(FilterError::Syntax {
                column: 1,
                expected: EXPECTED_EXPRESSION.to_owned(),
                found: "\"é\"".to_owned()
            })
        );
        assert_eq!(
            parse_filter("name eq héhé)", &FilterLimits::default()),
            Err(FilterError::Syntax {
                column: 12,
                expected: EXPECTED_END.to_owned(),
                found: "\")\"".to_owned()
            })
        );
    }

    #[test]
    fn test_found_excerpt_is_truncated() {
        assert_eq!(
            error("a eq 1 bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
            r#"_filter: expected "and", "or" or end of input at column 7, found "bbbbbbbbbbbbbbbbbbbbbbbb…""#
        );
    }

    fn normalized(children: Vec<FilterExpr>, and: bool) -> FilterExpr {
        combine(children, if and { Combinator::And } else { Combinator::Or })
    }

    fn arb_path() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[A-Za-z_][A-Za-z0-9_.:-]{0,10}",
            1 => prop::sample::select(vec!["or", "and", "not", "NOT", "eq", "_has:Task:focus:business-status"])
                .prop_map(str::to_owned),
        ]
    }

    fn arb_value() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[A-Za-z0-9|:/._%-]{1,12}",
            2 => "(?s).{0,8}",
            1 => prop::sample::select(vec!["or", "and", "not(x", "\"q\"", "", " ", ")", "eq", "a=b", "é"])
                .prop_map(str::to_owned),
        ]
    }

    fn arb_op() -> impl Strategy<Value = FilterOp> {
        prop_oneof![
            4 => prop::sample::select(FilterOp::KEYWORDS.to_vec()),
            1 => Just(FilterOp::ParamEquals),
        ]
    }

    fn arb_expr() -> impl Strategy<Value = FilterExpr> {
        let leaf = (arb_path(), arb_op(), arb_value()).prop_map(|(path, op, value)| FilterExpr::Compare {
            path,
            op,
            value,
        });
        leaf.prop_recursive(5, 40, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(|children| normalized(children, true)),
                prop::collection::vec(inner.clone(), 2..4).prop_map(|children| normalized(children, false)),
                inner.prop_map(|expr| FilterExpr::Not(Box::new(expr))),
            ]
        })
    }

    /// Filter text written the way clients write it, with the expression it must parse to.
    #[derive(Debug, Clone)]
    struct Generated {
        text: String,
        expr: FilterExpr,
        /// An `or` of sub-expressions (not a value list): needs parentheses inside an `and`.
        compound_or: bool,
    }

    fn arb_spacing() -> impl Strategy<Value = String> {
        prop::sample::select(vec![" ", "  ", "\t", " \u{a0}"]).prop_map(str::to_owned)
    }

    fn arb_keyword(word: &'static str) -> impl Strategy<Value = String> {
        let upper = word.to_ascii_uppercase();
        let mut title = upper.get(..1).unwrap_or_default().to_owned();
        title.push_str(word.get(1..).unwrap_or_default());
        prop::sample::select(vec![word.to_owned(), upper, title])
    }

    /// A quoted JSON string written independently of `CanonicalValue`.
    fn quoted(value: &str, escape_slash: bool) -> String {
        let mut text = String::from("\"");
        for c in value.chars() {
            match c {
                '"' => text.push_str("\\\""),
                '\\' => text.push_str("\\\\"),
                '\n' => text.push_str("\\n"),
                '/' if escape_slash => text.push_str("\\/"),
                other if other.is_control() => text.push_str(&format!("\\u{:04X}", u32::from(other))),
                other => text.push(other),
            }
        }
        text.push('"');
        text
    }

    /// `(text, value)`; alternatives after `or` cannot start like a comparison, so their bare
    /// form has no `=`, `[`, `(`.
    fn arb_written_value(alternative: bool) -> impl Strategy<Value = (String, String)> {
        let bare = if alternative { "[A-Za-z0-9|:/._%é-]{1,12}" } else { "[^\\s)\"][^\\s)]{0,8}" };
        prop_oneof![
            2 => bare.prop_map(|value| (value.clone(), value)),
            1 => ("(?s).{0,8}", any::<bool>()).prop_map(|(value, escape_slash)| (quoted(&value, escape_slash), value)),
        ]
    }

    fn arb_generated_leaf() -> impl Strategy<Value = Generated> {
        let op = prop::sample::select(FilterOp::KEYWORDS.to_vec())
            .prop_flat_map(|op| (Just(op), arb_keyword(op.as_str())))
            .prop_map(|(op, written)| (Some(op), written));
        let op_or_equals = prop_oneof![4 => op, 1 => Just((None, "=".to_owned()))];
        (
            arb_path(),
            op_or_equals,
            arb_spacing(),
            arb_written_value(false),
            prop::collection::vec((arb_spacing(), arb_keyword("or"), arb_written_value(true)), 0..3),
        )
            .prop_map(|(path, (op, written_op), spacing, (value_text, value), alternatives)| {
                let (op, mut text) = match op {
                    Some(op) => (op, format!("{path}{spacing}{written_op}{spacing}{value_text}")),
                    None => (FilterOp::ParamEquals, format!("{path}={value_text}")),
                };
                let mut compares = vec![cmp(&path, op, &value)];
                for (spacing, or, (alternative_text, alternative)) in alternatives {
                    text.push_str(&format!("{spacing}{or}{spacing}{alternative_text}"));
                    compares.push(cmp(&path, op, &alternative));
                }
                let expr = if compares.len() == 1 {
                    compares.pop().unwrap_or_else(|| eq("unreachable", ""))
                } else {
                    FilterExpr::Or(compares)
                };
                Generated { text, expr, compound_or: false }
            })
    }

    fn parenthesized(generated: &Generated, spacing: &str) -> String {
        format!("({spacing}{}{spacing})", generated.text)
    }

    fn arb_generated() -> impl Strategy<Value = Generated> {
        arb_generated_leaf().prop_recursive(4, 24, 3, |inner| {
            let children = prop::collection::vec((inner.clone(), any::<bool>()), 2..4);
            prop_oneof![
                (children.clone(), arb_spacing(), arb_keyword("and")).prop_map(|(children, spacing, and)| {
                    let texts: Vec<String> = children
                        .iter()
                        .map(|(child, extra_parens)| {
                            if child.compound_or || *extra_parens {
                                parenthesized(child, "")
                            } else {
                                child.text.clone()
                            }
                        })
                        .collect();
                    let exprs = children.into_iter().map(|(child, _)| child.expr).collect();
                    Generated {
                        text: texts.join(&format!("{spacing}{and}{spacing}")),
                        expr: combine(exprs, Combinator::And),
                        compound_or: false,
                    }
                }),
                (children, arb_spacing(), arb_keyword("or")).prop_map(|(children, spacing, or)| {
                    let texts: Vec<String> =
                        children
                            .iter()
                            .map(|(child, extra_parens)| {
                                if *extra_parens {
                                    parenthesized(child, &spacing)
                                } else {
                                    child.text.clone()
                                }
                            })
                            .collect();
                    let exprs = children.into_iter().map(|(child, _)| child.expr).collect();
                    Generated {
                        text: texts.join(&format!("{spacing}{or}{spacing}")),
                        expr: combine(exprs, Combinator::Or),
                        compound_or: true,
                    }
                }),
                (inner, arb_keyword("not"), prop::sample::select(vec!["", " "])).prop_map(
                    |(child, not, spacing)| Generated {
                        text: format!("{not}{spacing}{}", parenthesized(&child, spacing)),
                        expr: FilterExpr::Not(Box::new(child.expr)),
                        compound_or: false,
                    }
                ),
            ]
        })
    }

    fn arb_filter_text() -> impl Strategy<Value = String> {
        let token = prop::sample::select(vec![
            "(",
            ")",
            " ",
            "not",
            "not(",
            "and",
            "or",
            "OR",
            "eq",
            "ge",
            "=",
            "\"",
            "\"x y\"",
            "\\",
            "a",
            "b.c:above",
            "_has:Task:focus:x",
            "1",
            "X|02",
            "é",
            "[",
            "]",
            "\t",
        ]);
        let soup = prop::collection::vec(token.clone(), 0..30).prop_map(|tokens| tokens.concat());
        // Valid text with one token inserted and one span removed: near misses of the grammar.
        let mutated =
            (arb_generated(), any::<prop::sample::Index>(), any::<prop::sample::Index>(), token, 0..4usize)
                .prop_map(|(generated, insert_at, remove_at, inserted, removed_len)| {
                    let mut chars: Vec<char> = generated.text.chars().collect();
                    let insert_position = insert_at.index(chars.len() + 1);
                    let tail = chars.split_off(insert_position);
                    chars.extend(inserted.chars());
                    chars.extend(tail);
                    let remove_position = remove_at.index(chars.len() + 1);
                    let remove_end = (remove_position + removed_len).min(chars.len());
                    chars.drain(remove_position..remove_end);
                    chars.into_iter().collect()
                });
        prop_oneof![1 => soup, 3 => mutated]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(512)
        ))]

        #[test]
        fn test_proptest_parse_filter_never_panics(input in "(?s).{0,120}") {
            let _ = parse_filter(&input, &FilterLimits::default());
        }

        #[test]
        fn test_proptest_filter_like_text_never_panics_and_canonical_text_is_stable(input in arb_filter_text()) {
            if let Ok(expr) = parse_filter(&input, &FilterLimits::default()) {
                let canonical = expr.to_string();
                let generous = FilterLimits { max_depth: HARD_MAX_DEPTH, max_len: usize::MAX, ..FilterLimits::default() };
                let reparsed = parse_filter(&canonical, &generous);
                prop_assert_eq!(reparsed, Ok(expr), "canonical text {:?}", canonical);
            }
        }

        #[test]
        fn test_proptest_loose_forms_parse_to_expected_ast(generated in arb_generated()) {
            let limits = FilterLimits { max_len: usize::MAX, ..FilterLimits::default() };
            prop_assert_eq!(parse_filter(&generated.text, &limits), Ok(generated.expr.clone()), "text {:?}", generated.text);
            let canonical = generated.expr.to_string();
            prop_assert_eq!(parse_filter(&canonical, &limits), Ok(generated.expr), "canonical text {:?}", canonical);
        }

        #[test]
        fn test_proptest_display_round_trips(expr in arb_expr()) {
            let text = expr.to_string();
            let limits = FilterLimits { max_depth: 64, max_len: usize::MAX, max_comparisons: usize::MAX };
            prop_assert_eq!(parse_filter(&text, &limits), Ok(expr), "canonical text {:?}", text);
        }
    }
}
