import Foundation
import Yams

// Shared pieces of the YAML configuration files (rule sets, preprocessing): Codable helpers
// that reject unknown keys and turn type mismatches into one-line messages, and a compact
// flow-style rendering of an entry for error messages and `clrp inspect`.

/// A coding key for any string (so unknown keys can be listed).
struct AnyKey: CodingKey {
  var stringValue: String
  var intValue: Int?
  init(_ string: String) { self.stringValue = string }
  init?(stringValue: String) { self.stringValue = stringValue }
  init?(intValue: Int) { self.stringValue = String(intValue); self.intValue = intValue }
}

/// A problem found while decoding a configuration file; `entry` is the 0-based index in the
/// `rules:` list when the problem is inside an entry. Located (file, entry text) by the caller.
struct ConfigProblem: Error {
  var entry: Int?
  var message: String
  init(entry: Int? = nil, _ message: String) {
    self.entry = entry
    self.message = message
  }
}

/// Typed reads from a mapping with messages naming the key and what it should be.
struct ConfigMapping {
  let container: KeyedDecodingContainer<AnyKey>

  /// `notMapping` is the message when the value is not a mapping.
  init(_ decoder: Decoder, notMapping: String) throws {
    guard let c = try? decoder.container(keyedBy: AnyKey.self) else { throw ConfigProblem(notMapping) }
    container = c
  }

  var keys: [String] { container.allKeys.map(\.stringValue) }

  func has(_ key: String) -> Bool { container.contains(AnyKey(key)) }

  /// Fails on the first key not in `allowed`, listing the allowed ones.
  func rejectUnknownKeys(_ allowed: [String], what: String) throws {
    for key in keys where !allowed.contains(key) {
      throw ConfigProblem("unknown \(what) `\(ConfigYAML.excerpt(key))` (allowed: \(allowed.joined(separator: ", ")))")
    }
  }

  func string(_ key: String) throws -> String? {
    guard has(key) else { return nil }
    guard let s = try? container.decode(String.self, forKey: AnyKey(key)) else {
      throw ConfigProblem("`\(key)` must be a text value")
    }
    return s
  }

  /// A string or a list of strings.
  func strings(_ key: String) throws -> [String]? {
    guard has(key) else { return nil }
    if let s = try? container.decode(String.self, forKey: AnyKey(key)) { return [s] }
    if let list = try? container.decode([String].self, forKey: AnyKey(key)), !list.isEmpty { return list }
    throw ConfigProblem("`\(key)` must be a name or a non-empty list of names")
  }

  func number(_ key: String) throws -> Double? {
    guard has(key) else { return nil }
    guard let x = try? container.decode(Double.self, forKey: AnyKey(key)), x.isFinite else {
      throw ConfigProblem("`\(key)` must be a finite number")
    }
    return x
  }

  /// A number or a non-empty list of numbers.
  func numbers(_ key: String) throws -> [Double]? {
    guard has(key) else { return nil }
    if let x = try? container.decode(Double.self, forKey: AnyKey(key)), x.isFinite { return [x] }
    if let list = try? container.decode([Double].self, forKey: AnyKey(key)), !list.isEmpty,
       list.allSatisfy(\.isFinite) {
      return list
    }
    throw ConfigProblem("`\(key)` must be a number or a non-empty list of numbers")
  }

  func bool(_ key: String) throws -> Bool? {
    guard has(key) else { return nil }
    guard let b = try? container.decode(Bool.self, forKey: AnyKey(key)) else {
      throw ConfigProblem("`\(key)` must be true or false")
    }
    return b
  }

  /// An integer or a text value, as text (for `index: 0` and `index: 1..3` alike).
  func scalarText(_ key: String) throws -> String? {
    guard has(key) else { return nil }
    if let n = try? container.decode(Int.self, forKey: AnyKey(key)) { return String(n) }
    if let s = try? container.decode(String.self, forKey: AnyKey(key)) { return s }
    throw ConfigProblem("`\(key)` must be a single value")
  }
}

enum ConfigYAML {
  /// Decodes `T` from YAML text, turning every failure into a `ModelError` naming `source`;
  /// `locate` renders the entry a problem belongs to (for entry-level problems).
  static func decode<T: Decodable>(_ type: T.Type, yaml: String, source: String,
                                   locate: (Int) -> String) throws -> T {
    do {
      return try YAMLDecoder().decode(T.self, from: yaml)
    } catch let problem as ConfigProblem {
      throw located(problem, source: source, locate: locate)
    } catch let DecodingError.dataCorrupted(context) {
      if let problem = context.underlyingError as? ConfigProblem {
        throw located(problem, source: source, locate: locate)
      }
      if let yamlError = context.underlyingError as? YamlError {
        throw ModelError(file: source, "not valid YAML: \(describe(yamlError))")
      }
      throw ModelError(file: source, "cannot read: \(context.debugDescription)")
    } catch {
      throw ModelError(file: source, "cannot read: \(error)")
    }
  }

  static func located(_ problem: ConfigProblem, source: String, locate: (Int) -> String) -> ModelError {
    if let entry = problem.entry { return ModelError(file: source, "\(locate(entry)): \(problem.message)") }
    return ModelError(file: source, problem.message)
  }

  /// The YAML document as a node tree (for key order, lines and duplicate keys). The text is
  /// checked for nesting depth first (the parser recurses once per level) and the tree for its
  /// size with aliases expanded (an alias bomb of a few hundred bytes expands to billions of
  /// nodes), so every later walk over the tree is bounded.
  static func compose(_ yaml: String, source: String) throws -> Yams.Node? {
    try checkNesting(yaml, source: source)
    let root: Yams.Node?
    do {
      root = try Yams.compose(yaml: yaml)
    } catch let error as YamlError {
      throw ModelError(file: source, "not valid YAML: \(describe(error))")
    }
    if let root { try checkExpandedSize(root, source: source) }
    return root
  }

  /// The deepest nesting of lists and mappings a configuration file may have.
  public static let maxNesting = 64
  /// The most nodes a configuration file may have once its aliases are expanded.
  public static let maxExpandedNodes = 100_000
  /// The longest excerpt of an entry or value a message quotes.
  public static let excerptLength = 120

  /// Refuses text nested deeper than `limit` levels, before any parser sees it. A conservative
  /// scan: flow brackets `[ {` outside quotes and comments, plus block levels (distinct
  /// indentations, and each `- ` that opens a list item on the same line). Lines of block
  /// scalars (`|`, `>`) are skipped.
  public static func checkNesting(_ yaml: String, source: String, limit: Int = maxNesting) throws {
    var flow = 0
    var quote: Character?          // `'` or `"` while inside a quoted scalar
    var indents: [Int] = []        // strictly increasing indentations of the open block levels
    var blockScalarParent: Int?    // indentation of the line that opened a `|` or `>` scalar
    func refuse(_ line: Int) -> ModelError {
      ModelError(file: source, "line \(line): lists and mappings are nested more than \(limit) levels deep; clrp reads at most \(limit) levels")
    }
    var number = 0
    for rawLine in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
      number += 1
      let line = Array(rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine)
      let indent = line.prefix { $0 == " " }.count
      let blank = line.allSatisfy { $0 == " " || $0 == "\t" }
      if let parent = blockScalarParent {
        if blank || indent > parent { continue }
        blockScalarParent = nil
      }
      var i = 0
      var block = 0
      if flow == 0 && quote == nil {
        if blank || line[indent] == "#" { continue }
        while let last = indents.last, last > indent { indents.removeLast() }
        if indents.last != indent { indents.append(indent) }
        block = indents.count
        // `- - - x`: each dash opens a list one level deeper.
        i = indent
        while i < line.count, line[i] == "-", i + 1 == line.count || line[i + 1] == " " {
          block += 1
          i += 1
          while i < line.count, line[i] == " " { i += 1 }
        }
        if block + flow > limit { throw refuse(number) }
      }
      var previous: Character = " "  // the last character outside quotes, " " at the start
      var lastSignificant: Character = ":"
      while i < line.count {
        let c = line[i]
        if let q = quote {
          if q == "\"" && c == "\\" { i += 2; continue }
          if c == q { quote = nil; previous = c; lastSignificant = c }
          i += 1
          continue
        }
        let afterSpace = previous == " " || previous == "\t"
        if c == "#" && afterSpace { break }  // a comment runs to the end of the line
        if (c == "'" || c == "\"") && (afterSpace || "[{,:".contains(previous)) {
          quote = c
        } else if (c == "[" || c == "{") && (flow > 0 || ":-?,[{".contains(lastSignificant)) {
          flow += 1
          if block + flow > limit { throw refuse(number) }
        } else if (c == "]" || c == "}") && flow > 0 {
          flow -= 1
        }
        previous = c
        if c != " " && c != "\t" { lastSignificant = c }
        i += 1
      }
      // A block scalar indicator ends the line: `key: |`, `- >-`, `text: |2` (outside flow).
      if flow == 0 && quote == nil {
        let content = String(line).split(separator: "#").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        if let marker = content.lastIndex(where: { $0 == "|" || $0 == ">" }),
           content[content.index(after: marker)...].allSatisfy({ "+-0123456789".contains($0) }),
           marker == content.startIndex || " -:".contains(content[content.index(before: marker)]) {
          blockScalarParent = indent
        }
      }
    }
  }

  /// Refuses a tree of more than `budget` nodes, or nested more than `depth` levels, with its
  /// aliases expanded. The walk stops as soon as the budget is spent.
  public static func checkExpandedSize(_ root: Yams.Node, source: String, budget: Int = maxExpandedNodes,
                                       depth limit: Int = maxNesting) throws {
    var stack: [(node: Yams.Node, depth: Int)] = [(root, 0)]
    var count = 0
    while let (node, depth) = stack.popLast() {
      count += 1
      if count > budget {
        throw ModelError(file: source, "has more than \(budget) values once its aliases (*name) are expanded; clrp reads at most \(budget) (is it an alias bomb?)")
      }
      if depth > limit {
        let line = node.mark.map { " (line \($0.line))" } ?? ""
        throw ModelError(file: source, "lists and mappings are nested more than \(limit) levels deep once its aliases are expanded\(line); clrp reads at most \(limit) levels")
      }
      if let mapping = node.mapping {
        for (key, value) in mapping { stack.append((key, depth + 1)); stack.append((value, depth + 1)) }
      } else if let sequence = node.sequence {
        for item in sequence { stack.append((item, depth + 1)) }
      }
    }
  }

  /// At most `excerptLength` characters of `text`, with `…` when cut.
  public static func excerpt(_ text: String, limit: Int = excerptLength) -> String {
    text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
  }

  /// `line 2, column 1: did not find expected node content (while parsing a flow node ...)`.
  static func describe(_ error: YamlError) -> String {
    switch error {
    case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
         let .composer(context, problem, mark, _):
      let within = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
      return "line \(mark.line), column \(mark.column): \(problem)\(within)"
    default:
      return firstLine(error)
    }
  }

  static func firstLine(_ error: Error) -> String {
    String(String(describing: error).split(separator: "\n").first ?? "")
  }

  /// Keys given twice in any mapping of the tree (YAML parsers keep one silently).
  static func duplicateKey(in node: Yams.Node) -> (key: String, line: Int?)? {
    if let mapping = node.mapping {
      var seen: Set<String> = []
      for (key, value) in mapping {
        let k = key.string ?? ""
        if !seen.insert(k).inserted { return (k, key.mark?.line) }
        if let d = duplicateKey(in: value) { return d }
      }
    } else if let seq = node.sequence {
      for item in seq { if let d = duplicateKey(in: item) { return d } }
    }
    return nil
  }

  /// A one-line flow-style rendering: `{op: Conv, position: first, rule: zbox}`, cut to
  /// `limit` characters (with `…`); rendering stops once the limit is passed.
  static func flow(_ node: Yams.Node, limit: Int = excerptLength) -> String {
    var text = ""
    func write(_ node: Yams.Node) {
      guard text.count <= limit else { return }
      if let scalar = node.scalar {
        text += plainOrQuoted(String(scalar.string.prefix(limit + 1)))
      } else if let seq = node.sequence {
        text += "["
        for (i, item) in seq.enumerated() {
          guard text.count <= limit else { return }
          if i > 0 { text += ", " }
          write(item)
        }
        text += "]"
      } else if let mapping = node.mapping {
        text += "{"
        for (i, pair) in mapping.enumerated() {
          guard text.count <= limit else { return }
          if i > 0 { text += ", " }
          write(pair.key)
          text += ": "
          write(pair.value)
        }
        text += "}"
      }
    }
    write(node)
    return excerpt(text, limit: limit)
  }

  static func plainOrQuoted(_ s: String) -> String {
    let plain = !s.isEmpty && s.first != " " && s.last != " " && s.allSatisfy {
      $0.isLetter || $0.isNumber || "_.+-/ ".contains($0)
    }
    if plain { return s }
    return "'" + s.replacingOccurrences(of: "'", with: "''") + "'"
  }
}
