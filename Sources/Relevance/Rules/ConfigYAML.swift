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
      throw ConfigProblem("unknown \(what) `\(key)` (allowed: \(allowed.joined(separator: ", ")))")
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

  /// The YAML document as a node tree (for key order, lines and duplicate keys).
  static func compose(_ yaml: String, source: String) throws -> Yams.Node? {
    do {
      return try Yams.compose(yaml: yaml)
    } catch let error as YamlError {
      throw ModelError(file: source, "not valid YAML: \(describe(error))")
    }
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

  /// A one-line flow-style rendering: `{op: Conv, position: first, rule: zbox}`.
  static func flow(_ node: Yams.Node) -> String {
    if let scalar = node.scalar { return plainOrQuoted(scalar.string) }
    if let seq = node.sequence { return "[" + seq.map(flow).joined(separator: ", ") + "]" }
    if let mapping = node.mapping {
      return "{" + mapping.map { "\(flow($0.key)): \(flow($0.value))" }.joined(separator: ", ") + "}"
    }
    return ""
  }

  static func plainOrQuoted(_ s: String) -> String {
    let plain = !s.isEmpty && s.first != " " && s.last != " " && s.allSatisfy {
      $0.isLetter || $0.isNumber || "_.+-/ ".contains($0)
    }
    if plain { return s }
    return "'" + s.replacingOccurrences(of: "'", with: "''") + "'"
  }
}
