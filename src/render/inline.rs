//! Substitution inside an inline Terraform module, where a value lands in HCL (or Terraform JSON)
//! text rather than in a JSON string of its own.
//!
//! Upstream CAPT pasted values into the module text as they were, so a value holding a quote
//! ended the HCL string it sat in (`name = "he said "hi""`). Here the module text is scanned as
//! HCL and each placeholder's value is escaped for the place it sits in:
//!
//! | where the placeholder sits | what is written |
//! |---|---|
//! | a quoted string, `"…${name}…"` | the value as an HCL string: `\\ \" \n \r \t \uXXXX`, and `$${ %%{` for a `${`/`%{` in the value |
//! | a heredoc, `<<EOT … EOT` | the value with `$${ %%{` escapes; as an interpolation `${"…"}` when it holds a line that could end the heredoc, control characters, or newlines in an indented (`<<-`) heredoc |
//! | a `#` or `//` comment | the value with line breaks turned into spaces |
//! | a `/* … */` comment | the value with `*/` broken up |
//! | code, outside any string | the value itself: it is HCL the template asks for (`count = ${replicas}`) |
//!
//! With `inlineFormat: JSON` the module is Terraform's JSON syntax: a value in a JSON string is
//! JSON-escaped and given the same `$${ %%{` escapes (Terraform reads those strings as
//! templates); elsewhere it is written as it is.
//!
//! Either way, a `$` or `%` at the end of a value that the template follows with `{` is doubled,
//! so the two never join into an interpolation. The escapes are chosen by the text of the template
//! around the placeholder, which values never change.

use super::Piece;

/// The syntax of an inline module (`spec.forProvider.inlineFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InlineFormat {
    /// HCL, the default.
    Hcl,
    /// Terraform's JSON syntax.
    Json,
}

/// Where in the module text the scanner is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Context {
    /// Expressions, blocks, attributes; for JSON, outside strings.
    Code,
    /// Inside `${ … }` or `%{ … }` of a template: code, until the brace that closes it.
    Interpolation {
        depth: u32,
    },
    /// A quoted string: an HCL template, or a JSON string.
    Quoted,
    /// A heredoc template, until a line holding only `marker`; `indented` for `<<-`.
    Heredoc {
        marker: String,
        indented: bool,
    },
    LineComment,
    BlockComment,
}

/// Substitutes the pieces of an inline module, escaping each value for where it sits.
pub(super) fn substitute(
    pieces: &[Piece<'_>],
    format: InlineFormat,
    mut value_of: impl FnMut(&str) -> Option<String>,
) -> String {
    let mut scanner = Scanner {
        stack: vec![Context::Code],
        format,
        at_line_start: false,
    };
    let mut out = String::new();
    for (i, piece) in pieces.iter().enumerate() {
        match piece {
            Piece::Text(text) => {
                scanner.scan(text);
                out.push_str(text);
            }
            Piece::Placeholder { name, raw } => match value_of(name) {
                Some(value) => {
                    let around = Around {
                        before: out.chars().last(),
                        after: match pieces.get(i + 1) {
                            Some(Piece::Text(t)) => t.chars().next().map_or(After::End, After::Char),
                            Some(Piece::Placeholder { .. }) => After::Value,
                            None => After::End,
                        },
                    };
                    out.push_str(&scanner.escape(&value, around));
                    // A value never changes where the template is, but a line it ends does
                    // start the next one inside a heredoc.
                    scanner.at_line_start = false;
                }
                None => out.push_str(raw),
            },
        }
    }
    out
}

/// What surrounds a value in the rendered text: a `$` or `%` before it, or a `{` after it, could
/// join the value's edges into an interpolation.
#[derive(Debug, Clone, Copy)]
struct Around {
    /// The last character written before the value.
    before: Option<char>,
    after: After,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// This character of the template.
    Char(char),
    /// Another value, not known yet: it may start with `{`.
    Value,
    /// The end of the string.
    End,
}

struct Scanner {
    stack: Vec<Context>,
    format: InlineFormat,
    /// In a heredoc, the next text starts a line (it may be the closing marker).
    at_line_start: bool,
}

impl Scanner {
    fn context(&self) -> &Context {
        self.stack.last().unwrap_or(&Context::Code)
    }

    /// Follows the template's own text, tracking strings, heredocs, comments and interpolations.
    fn scan(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let rest = &text[i..];
            if self.at_line_start {
                self.at_line_start = false;
                if let Context::Heredoc { marker, .. } = self.context() {
                    let line = rest.split('\n').next().unwrap_or_default();
                    if line.trim() == marker {
                        self.stack.pop();
                        i += line.len();
                        continue;
                    }
                }
            }
            i += match self.context().clone() {
                Context::Code | Context::Interpolation { .. } => self.scan_code(rest),
                Context::Quoted => self.scan_template(rest, true),
                Context::Heredoc { .. } => self.scan_template(rest, false),
                Context::LineComment => {
                    if rest.starts_with('\n') {
                        self.stack.pop();
                    }
                    1
                }
                Context::BlockComment => {
                    if rest.starts_with("*/") {
                        self.stack.pop();
                        2
                    } else {
                        1
                    }
                }
            };
            // Never stop inside a multi-byte character.
            while i < bytes.len() && !text.is_char_boundary(i) {
                i += 1;
            }
        }
    }

    /// One step in code; returns how many bytes it consumed.
    fn scan_code(&mut self, rest: &str) -> usize {
        if rest.starts_with('"') {
            self.stack.push(Context::Quoted);
            return 1;
        }
        if self.format == InlineFormat::Json {
            return 1;
        }
        if rest.starts_with('#') || rest.starts_with("//") {
            self.stack.push(Context::LineComment);
            return 1;
        }
        if rest.starts_with("/*") {
            self.stack.push(Context::BlockComment);
            return 2;
        }
        if let Some(after) = rest.strip_prefix("<<") {
            let (indented, after) = match after.strip_prefix('-') {
                Some(a) => (true, a),
                None => (false, after),
            };
            let marker: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            if !marker.is_empty() && after[marker.len()..].starts_with('\n') {
                let consumed = rest.len() - after.len() + marker.len() + 1;
                self.stack.push(Context::Heredoc { marker, indented });
                self.at_line_start = true;
                return consumed;
            }
        }
        if let Some(Context::Interpolation { depth }) = self.stack.last_mut() {
            if rest.starts_with('{') {
                *depth += 1;
            } else if rest.starts_with('}') {
                if *depth == 0 {
                    self.stack.pop();
                } else {
                    *depth -= 1;
                }
            }
        }
        1
    }

    /// One step in a quoted string or a heredoc.
    fn scan_template(&mut self, rest: &str, quoted: bool) -> usize {
        if quoted && rest.starts_with('\\') {
            // The escaped character, whatever it is, is part of the string.
            return 1 + rest[1..].chars().next().map_or(0, char::len_utf8);
        }
        if quoted && rest.starts_with('"') {
            self.stack.pop();
            return 1;
        }
        if self.format == InlineFormat::Hcl {
            if rest.starts_with("$${") || rest.starts_with("%%{") {
                return 3;
            }
            if rest.starts_with("${") || rest.starts_with("%{") {
                self.stack.push(Context::Interpolation { depth: 0 });
                return 2;
            }
        }
        if !quoted && rest.starts_with('\n') {
            self.at_line_start = true;
        }
        1
    }

    /// `value` escaped for the current context.
    fn escape(&self, value: &str, around: Around) -> String {
        // A `%` the template wrote just before a value that starts with `{` would make a
        // directive: the value goes in as an interpolation, which starts with `$`, not `{`.
        let joins_before = matches!(around.before, Some('$' | '%')) && value.starts_with('{');
        match (self.format, self.context()) {
            (_, Context::Code | Context::Interpolation { .. }) => value.to_owned(),
            (InlineFormat::Json, _) => {
                // Terraform reads a JSON string as a template once JSON has decoded it.
                let template = if joins_before {
                    interpolated(value)
                } else {
                    template_escapes(value, around.after)
                };
                let json = serde_json::Value::String(template).to_string();
                json[1..json.len() - 1].to_owned()
            }
            (InlineFormat::Hcl, Context::Quoted) if joins_before => interpolated(value),
            (InlineFormat::Hcl, Context::Quoted) => template_escapes(&hcl_string(value), around.after),
            (InlineFormat::Hcl, Context::Heredoc { marker, indented }) => {
                // A line of the value that starts like the marker could end the heredoc, alone or
                // with the template text that follows it (parsers differ on what else may follow
                // the marker), so it is kept out of the heredoc's own lines.
                let ends_heredoc = value.split('\n').skip(1).any(|line| {
                    let line = line.trim_start();
                    line.starts_with(marker.as_str()) || marker.starts_with(line)
                });
                let controls = value.chars().any(|c| c.is_control() && c != '\n' && c != '\t');
                let reindented = *indented && value.contains('\n');
                if joins_before || ends_heredoc || controls || reindented {
                    interpolated(value)
                } else {
                    template_escapes(value, around.after)
                }
            }
            (InlineFormat::Hcl, Context::LineComment) => value.replace(['\n', '\r'], " "),
            (InlineFormat::Hcl, Context::BlockComment) => value.replace("*/", "* /"),
        }
    }
}

/// `value` as a template interpolation of a quoted string, `${"…"}`: exact in any template.
fn interpolated(value: &str) -> String {
    format!("${{\"{}\"}}", template_escapes(&hcl_string(value), After::End))
}

/// The characters of an HCL quoted string for `value`, without the quotes or template escapes.
fn hcl_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// Escapes the `$` and `%` characters that would start an interpolation or a directive with
/// the `{` after them, in the text or in `after`. A lone `$` or `%` before `{` is doubled: HCL
/// reads `$${` as a literal `${`. In a run of them (`$$${`, `%$${`) parsers part ways (Terraform's
/// HCL reads `$$${` as `$${`, hcl-rs as `${`), so each character of a run but the last is written
/// as an interpolation of itself, `${"$"}`, which every parser reads alike; and a run that ends the
/// text before another value, whose first character is not known here, is written that way whole.
fn template_escapes(text: &str, after: After) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..].iter().take_while(|c| matches!(c, '$' | '%')).count();
        if run == 0 {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let (run_chars, rest) = (&chars[i..i + run], chars.get(i + run));
        let followed_by = rest.map_or(after, |c| After::Char(*c));
        match followed_by {
            After::Char('{') => {
                for c in &run_chars[..run - 1] {
                    out.push_str(&format!("${{\"{c}\"}}"));
                }
                let last = run_chars[run - 1];
                out.push(last);
                out.push(last);
            }
            After::Value => {
                for c in run_chars {
                    out.push_str(&format!("${{\"{c}\"}}"));
                }
            }
            After::Char(_) | After::End => out.extend(run_chars),
        }
        i += run;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::str::FromStr as _;

    use hcl::eval::{Context, Evaluate as _};
    use proptest::prelude::*;
    use serde_json::json;

    use super::super::render;

    /// `module` rendered with `${v}` = `value`, as an inline module of `format` (`HCL`/`JSON`).
    fn rendered(module: &str, format: &str, value: &str) -> String {
        let template = json!({"source": "Inline", "inlineFormat": format, "module": module});
        let vars = BTreeMap::from([("v".to_owned(), value.to_owned())]);
        let out = render(&template, &vars).expect("every placeholder has a value");
        out["module"].as_str().unwrap().to_owned()
    }

    /// The string attribute `x` of the module's `locals` block, evaluated.
    fn local_x(module: &str) -> Result<String, String> {
        let body = hcl::parse(module).map_err(|e| format!("not HCL: {e}\n{module}"))?;
        let locals = body
            .blocks()
            .find(|b| b.identifier() == "locals")
            .ok_or_else(|| format!("no locals block:\n{module}"))?;
        let attributes: Vec<_> = locals.body().attributes().collect();
        if attributes.len() != 1 {
            return Err(format!("{} attributes, not 1:\n{module}", attributes.len()));
        }
        match attributes[0].expr().evaluate(&Context::new()) {
            Ok(hcl::Value::String(s)) => Ok(s),
            other => Err(format!("{other:?}\n{module}")),
        }
    }

    /// Values with everything that breaks HCL: quotes, backslashes, line breaks, `${`, `%{`, a
    /// heredoc's marker on a line of its own, comment ends, and any character at all.
    fn nasty() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(
                prop_oneof![
                    Just("\""),
                    Just("\\"),
                    Just("\n"),
                    Just("\r\n"),
                    Just("\t"),
                    Just("${"),
                    Just("%{"),
                    Just("$"),
                    Just("%"),
                    Just("{"),
                    Just("}"),
                    Just("EOT"),
                    Just("*/"),
                    Just("#"),
                    Just("\u{7}"),
                    Just("é"),
                    Just(" "),
                    Just("x"),
                ],
                0..12,
            )
            .prop_map(|parts| parts.concat()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn a_value_in_a_quoted_string_round_trips(value in nasty()) {
            let module = rendered("locals {\n  x = \"pre-${v}-post\"\n}\n", "HCL", &value);
            prop_assert_eq!(local_x(&module), Ok(format!("pre-{value}-post")));
        }

        #[test]
        fn a_value_in_a_heredoc_round_trips(value in nasty()) {
            let module = rendered("locals {\n  x = <<EOT\npre-${v}-post\nEOT\n}\n", "HCL", &value);
            prop_assert_eq!(local_x(&module), Ok(format!("pre-{value}-post\n")));
        }

        #[test]
        fn a_value_in_an_indented_heredoc_round_trips(value in nasty()) {
            let module = rendered("locals {\n  x = <<-EOT\n    pre-${v}-post\n    EOT\n}\n", "HCL", &value);
            prop_assert_eq!(local_x(&module), Ok(format!("pre-{value}-post\n")));
        }

        #[test]
        fn a_value_in_a_string_inside_an_interpolation_round_trips(value in nasty()) {
            let module = rendered("locals {\n  x = \"${\"pre-${v}\"}-post\"\n}\n", "HCL", &value);
            prop_assert_eq!(local_x(&module), Ok(format!("pre-{value}-post")));
        }

        #[test]
        fn a_value_in_a_comment_stays_in_the_comment(value in nasty()) {
            let module = rendered("# note ${v}\n/* ${v} */\nlocals {\n  x = \"ok\" // ${v}\n}\n", "HCL", &value);
            prop_assert_eq!(local_x(&module), Ok("ok".to_owned()));
        }

        #[test]
        fn a_value_in_a_terraform_json_string_round_trips(value in nasty()) {
            let module = rendered(r#"{"locals": {"x": "pre-${v}-post"}}"#, "JSON", &value);
            let parsed: serde_json::Value = serde_json::from_str(&module)
                .map_err(|e| TestCaseError::fail(format!("not JSON: {e}\n{module}")))?;
            let template = parsed["locals"]["x"].as_str().unwrap_or_default();
            let evaluated = hcl::Template::from_str(template)
                .map_err(|e| e.to_string())
                .and_then(|t| t.evaluate(&Context::new()).map_err(|e| e.to_string()));
            prop_assert_eq!(evaluated, Ok(format!("pre-{value}-post")));
        }
    }

    #[test]
    fn a_value_in_code_is_code_and_terraform_escapes_stay() {
        let module = rendered(
            "locals {\n  x = \"${var.id}-$${v}-${v}\"\n  n = ${v}\n}\n",
            "HCL",
            "3",
        );
        assert_eq!(module, "locals {\n  x = \"${var.id}-$${v}-3\"\n  n = 3\n}\n");
    }

    #[test]
    fn only_inline_modules_are_escaped() {
        let template = json!({"source": "Remote", "module": "git::https://x/${v}"});
        let vars = BTreeMap::from([("v".to_owned(), "a\"b".to_owned())]);
        assert_eq!(render(&template, &vars).unwrap()["module"], "git::https://x/a\"b");
    }
}
