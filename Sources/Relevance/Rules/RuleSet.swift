import Foundation
import Yams

/// A rule configuration: an ordered list of entries, each a matcher and a rule; the first entry
/// that matches a node gives its rule. Read from YAML (format in Docs/RULES.md):
///
///     name: paper
///     rules:
///       - {op: Conv, position: first, rule: zbox}
///       - {op: linear, rule: zplus}
///       - {op: MaxPool, rule: winner-take-all}
///       - {op: [AveragePool, GlobalAveragePool], rule: proportional}
///
/// Everything that can be checked without a graph (keys, rule names, parameters, a rule on an
/// op it cannot serve) is checked when the file is read; `assign(to:preprocessing:)` checks
/// the rest against a canonical graph.
public struct RuleSet: Equatable, Sendable {
  public var name: String?
  public var description: String?
  /// Where the rules came from (a file path, or `Rules/<name>.yaml (built in)`), for messages.
  public var source: String
  public var entries: [RuleEntry]

  /// Parses a rule set; every problem is a `ModelError` naming `source` and the entry.
  public init(yaml: String, source: String) throws {
    guard let root = try ConfigYAML.compose(yaml, source: source) else {
      throw ModelError(file: source, "is empty; a rule set needs a `rules:` list (see Docs/RULES.md)")
    }
    if let dup = ConfigYAML.duplicateKey(in: root) {
      throw ModelError(file: source, "key `\(ConfigYAML.excerpt(dup.key))` is given twice in one mapping" + (dup.line.map { " (line \($0))" } ?? ""))
    }
    let entryNodes: [Yams.Node] = root.mapping?["rules"]?.sequence.map { Array($0) } ?? []
    func locate(_ i: Int) -> String {
      guard i < entryNodes.count else { return "entry \(i + 1)" }
      return RuleEntry.label(number: i + 1, line: entryNodes[i].mark?.line, text: ConfigYAML.flow(entryNodes[i]))
    }
    let file = try ConfigYAML.decode(RuleSetFile.self, yaml: yaml, source: source, locate: locate)
    self.name = file.name
    self.description = file.description
    self.source = source
    self.entries = file.entries.enumerated().map { i, decoded in
      let node = i < entryNodes.count ? entryNodes[i] : nil
      let matcherText = node?.mapping.map { mapping in
        mapping.filter { RuleEntry.matcherKeys.contains($0.key.string ?? "") }
          .map { "\($0.key.string ?? ""): \(ConfigYAML.flow($0.value))" }.joined(separator: ", ")
      } ?? ""
      return RuleEntry(number: i + 1, line: node?.mark?.line, text: node.map { ConfigYAML.flow($0) } ?? "",
                       matcherText: matcherText, decoded: decoded)
    }
  }

  /// A preset name (`paper`, `epsilon`, ...; see `presetNames`) or a path to a YAML file (anything
  /// containing `/` or ending in `.yaml`/`.yml`).
  ///
  /// Presets are looked up as `<name>.yaml` in `$CLRP_RULES_DIR`, then `./Rules`, then the
  /// package's `Rules` folder (not in the portable build), then in the copies built into the
  /// binary (`Presets.yaml`).
  public static func load(nameOrPath: String) throws -> RuleSet {
    if isPath(nameOrPath) {
      // `paper.yaml` with no such file here names the preset, as the docs write it.
      let stem = (nameOrPath as NSString).deletingPathExtension
      if !FileManager.default.fileExists(atPath: nameOrPath), !nameOrPath.contains("/"), presetNames.contains(stem) {
        return try load(nameOrPath: stem)
      }
      guard FileManager.default.fileExists(atPath: nameOrPath) else {
        throw ModelError(file: nameOrPath, "no such rules file (presets: \(presetNames.joined(separator: ", ")))")
      }
      return try RuleSet(yaml: readText(nameOrPath), source: nameOrPath)
    }
    for dir in presetDirectories() {
      let path = (dir as NSString).appendingPathComponent(nameOrPath + ".yaml")
      if FileManager.default.fileExists(atPath: path) { return try RuleSet(yaml: readText(path), source: path) }
    }
    if let text = Presets.yaml[nameOrPath] {
      return try RuleSet(yaml: text, source: "Rules/\(nameOrPath).yaml (built in)")
    }
    throw ModelError("unknown rule preset '\(nameOrPath)'; presets: \(presetNames.joined(separator: ", ")); or give the path of a YAML file (format: Docs/RULES.md)")
  }

  /// Names of the presets: the built-in ones and the `.yaml` files of the preset folders.
  public static var presetNames: [String] {
    var names = Set(Presets.yaml.keys)
    for dir in presetDirectories() {
      let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
      for file in files where file.hasSuffix(".yaml") { names.insert(String(file.dropLast(5))) }
    }
    return names.sorted()
  }

  /// Existing preset folders, in lookup order: `$CLRP_RULES_DIR`, `Rules` in the current
  /// directory, the package's `Rules` (found from this source file's path at build time).
  /// The portable build (`make dist` compiles with `-D CLRP_PORTABLE`) skips the package's
  /// folder: a binary shipped elsewhere must not read the build machine's source tree, but the
  /// presets built into it.
  public static func presetDirectories() -> [String] {
    var candidates: [String] = []
    if let env = ProcessInfo.processInfo.environment["CLRP_RULES_DIR"], !env.isEmpty { candidates.append(env) }
    candidates.append("Rules")
    #if !CLRP_PORTABLE
    candidates.append(packageRulesDirectory)
    #endif
    var seen: Set<String> = []
    return candidates.filter {
      var isDir: ObjCBool = false
      let absolute = URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path
      return FileManager.default.fileExists(atPath: $0, isDirectory: &isDir) && isDir.boolValue
        && seen.insert(absolute).inserted
    }
  }

  /// `Rules/` of the source tree this file was compiled from.
  static let packageRulesDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Rules").path

  static func isPath(_ s: String) -> Bool {
    s.contains("/") || s.hasSuffix(".yaml") || s.hasSuffix(".yml")
  }

  static func readText(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ModelError(file: path, "cannot read the file")
    }
    guard let text = String(data: data, encoding: .utf8) else { throw ModelError(file: path, "is not UTF-8 text") }
    return text
  }
}

/// Which linear layer (Conv or Dense, in topological order) a `position:` matcher selects.
public enum LayerPosition: String, Equatable, Sendable {
  case first, last
}

/// An inclusive range of linear-layer indices (0 = the first Conv/Dense in topological order);
/// negative bounds count from the end (-1 = the last). `k`, `a..b`, `a..`, `..b`.
public struct LayerRange: Equatable, Sendable, CustomStringConvertible {
  public var lower: Int?
  public var upper: Int?

  public init(lower: Int?, upper: Int?) {
    self.lower = lower
    self.upper = upper
  }

  /// Parses `k`, `a..b`, `a..` or `..b` (integers, possibly negative); nil for anything else.
  public init?(parsing text: String) {
    let t = text.trimmingCharacters(in: .whitespaces)
    if let dots = t.range(of: "..") {
      let left = t[..<dots.lowerBound].trimmingCharacters(in: .whitespaces)
      let right = t[dots.upperBound...].trimmingCharacters(in: .whitespaces)
      if left.isEmpty && right.isEmpty { return nil }
      guard left.isEmpty || Int(left) != nil, right.isEmpty || Int(right) != nil else { return nil }
      self.init(lower: Int(left), upper: Int(right))
    } else {
      guard let k = Int(t) else { return nil }
      self.init(lower: k, upper: k)
    }
  }

  /// Whether linear layer `index` of `count` lies in the range.
  public func contains(_ index: Int, count: Int) -> Bool {
    func resolve(_ i: Int) -> Int { i < 0 ? count + i : i }
    let lo = lower.map(resolve) ?? 0
    let hi = upper.map(resolve) ?? count - 1
    return lo <= index && index <= hi
  }

  public var description: String {
    if let lower, lower == upper { return String(lower) }
    return (lower.map(String.init) ?? "") + ".." + (upper.map(String.init) ?? "")
  }
}

/// The rule an entry gives, before it meets a node: complete, or completed per node (z^B bounds
/// from the preprocessing; `gradient`, which is a linear rule on Conv/Dense and `Rule.gradient`
/// elsewhere).
public enum RuleSpec: Equatable, Sendable, CustomStringConvertible {
  case linear(LinearRule)
  /// z^B with the bounds of the preprocessing's pixel range.
  case zBoxFromPreprocessing(bias: Bool?)
  case gradient(bias: Bool?)
  /// A rule for a non-linear node: winner-take-all, proportional, uniform or pass.
  case node(Rule)

  public var description: String {
    switch self {
    case .linear(let rule): return rule.description
    case .zBoxFromPreprocessing(let bias):
      return "zbox(from preprocessing)" + (bias == true ? " +bias" : "")
    case .gradient(let bias): return "gradient" + (bias == true ? " +bias" : "")
    case .node(let rule): return rule.description
    }
  }

  /// The node families the rule can serve (from `RuleCatalog`).
  var targets: Set<RuleTarget> { RuleCatalog.definition(named: catalogName)!.serves }
}

/// One entry of a rule set: matchers (all given must hold) and the rule.
public struct RuleEntry: Equatable, Sendable {
  /// 1-based position in the `rules:` list.
  public var number: Int
  /// Line of the entry in its file.
  public var line: Int?
  /// The entry as one line of flow-style YAML.
  public var text: String
  /// The matcher keys of the entry as written (`op: Conv, position: first`), "" for none.
  public var matcherText: String
  /// Canonical op names (`Op.name`), groups expanded; nil = every op the rule can serve.
  public var ops: [String]?
  /// Node-name globs (`*`, `?`); one must match the whole node name.
  public var names: [String]?
  public var position: LayerPosition?
  public var index: LayerRange?
  public var rule: RuleSpec

  static let matcherKeys = ["op", "name", "position", "index"]

  init(number: Int, line: Int?, text: String, matcherText: String, decoded: DecodedEntry) {
    self.number = number
    self.line = line ?? decoded.line
    self.text = text
    self.matcherText = matcherText
    self.ops = decoded.ops
    self.names = decoded.names
    self.position = decoded.position
    self.index = decoded.index
    self.rule = decoded.rule
  }

  /// `entry 1 (op: Conv, position: first)`: how `RuleAssignment.reasons` names the entry.
  public var label: String { "entry \(number) (\(matcherText.isEmpty ? "catch-all" : matcherText))" }

  /// `entry 2 (line 9: {op: MaxPool, rule: zplus})`: how error messages name the entry.
  public var fullLabel: String { RuleEntry.label(number: number, line: line, text: text) }

  static func label(number: Int, line: Int?, text: String) -> String {
    "entry \(number) (" + (line.map { "line \($0): " } ?? "") + text + ")"
  }

  /// Whether the entry selects `node` (of family `target`, see `RuleTarget`): the rule must
  /// serve the family, and every matcher given must hold. `linearIndex` is the node's index
  /// among the graph's Conv/Dense nodes (nil for other nodes), `linearCount` their number.
  func matches(_ node: Node, target: RuleTarget, linearIndex: Int?, linearCount: Int) -> Bool {
    guard rule.targets.contains(target) else { return false }
    if let ops {
      guard ops.contains(node.op.name) else { return false }
    }
    if let names {
      guard names.contains(where: { globMatch($0, node.name) }) else { return false }
    }
    if let position {
      guard let i = linearIndex, i == (position == .first ? 0 : linearCount - 1) else { return false }
    }
    if let index {
      guard let i = linearIndex, index.contains(i, count: linearCount) else { return false }
    }
    return true
  }
}

/// Whole-string glob match: `*` any run of characters (also none), `?` one character.
public func globMatch(_ pattern: String, _ text: String) -> Bool {
  let p = Array(pattern), t = Array(text)
  var pi = 0, ti = 0
  var star = -1, mark = 0
  while ti < t.count {
    if pi < p.count && (p[pi] == "?" || p[pi] == t[ti]) {
      pi += 1; ti += 1
    } else if pi < p.count && p[pi] == "*" {
      star = pi; mark = ti; pi += 1
    } else if star >= 0 {
      pi = star + 1; mark += 1; ti = mark
    } else {
      return false
    }
  }
  while pi < p.count && p[pi] == "*" { pi += 1 }
  return pi == p.count
}

// MARK: - Vocabulary

extension RuleSet {
  /// Op names a `op:` matcher accepts: the canonical ops as `Op.name` prints them.
  public static let opNames = [
    "Conv", "ConvTranspose", "Dense", "MaxPool", "AveragePool", "GlobalAveragePool",
    "Affine", "Concat", "Add", "Sub", "Mul", "Div", "Pad", "Softmax", "Transpose",
    "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Slice",
  ] + ActivationRegistry.opNames + OperatorRegistry.opNames
  /// Op groups a `op:` matcher accepts.
  public static let opGroups: [(name: String, ops: [String])] = [
    ("linear", ["Conv", "ConvTranspose", "Dense"]),
    ("pooling", ["MaxPool", "AveragePool", "GlobalAveragePool"]),
    ("activation", ActivationRegistry.opNames + ["PRelu"]),
  ]
  /// The rule names, in documentation order (`RuleCatalog`).
  public static let ruleNames = RuleCatalog.all.map(\.name)

  /// Parameters each rule accepts.
  static let ruleParameters: [String: [String]] = Dictionary(uniqueKeysWithValues: RuleCatalog.all.map {
    ($0.name, $0.parameters.map(\.key))
  })
  static let parameterKeys = ["epsilon", "eta", "alpha", "beta", "gamma", "low", "high", "bias"]

  /// What a rule applies to, for messages.
  static func servesText(_ rule: String) -> String {
    RuleCatalog.definition(named: rule)?.servesText ?? "Conv, Dense"
  }

  /// ONNX op types that canonical graphs spell differently, for hints.
  static let onnxHints: [String: String] = [
    "gemm": "Dense", "matmul": "Dense", "linear": "Dense", "conv2d": "Conv",
    "batchnormalization": "Affine (or folded into the preceding Conv)", "maxpool2d": "MaxPool",
    "avgpool": "AveragePool", "globalavgpool": "GlobalAveragePool",
    "split": "Slice, one per piece", "globalmaxpool": "MaxPool", "upsample": "Resize",
  ]

  /// Canonical op names for an `op:` value (a name or a group), case-insensitively.
  static func resolveOp(_ name: String) throws -> [String] {
    let key = name.lowercased()
    if let group = opGroups.first(where: { $0.name == key }) { return group.ops }
    if let op = opNames.first(where: { $0.lowercased() == key }) { return [op] }
    throw ConfigProblem(unknownOpMessage(name))
  }

  /// A few op names that show what `op:` takes, for the unknown-op message.
  static let opExamples = ["Conv", "Dense", "MaxPool", "Relu", "Add", "Concat", "Slice"]

  /// Why `name` is no op: the canonical name of an ONNX op type, else the closest op or group
  /// names; then a few examples, the groups, and where every name is listed. Not the whole
  /// list, which grows with every op and would bury the hint.
  static func unknownOpMessage(_ name: String) -> String {
    var hint = ""
    if let canonical = onnxHints[name.lowercased()] {
      hint = " (canonical graphs call it \(canonical))"
    } else {
      let close = closestNames(to: name, among: opNames + opGroups.map(\.name))
      if !close.isEmpty { hint = " (did you mean \(close.joined(separator: ", "))?)" }
    }
    return "unknown op `\(ConfigYAML.excerpt(name))`\(hint); `op:` takes canonical op names such as "
      + "\(opExamples.joined(separator: ", ")), or the groups \(opGroups.map(\.name).joined(separator: ", ")); "
      + "all names: Docs/RULES.md (Matchers); a model's ops: `clrp inspect MODEL`"
  }
}

// MARK: - Decoding

/// The file as decoded (Codable), before entries are located in the text.
struct RuleSetFile: Decodable {
  var name: String?
  var description: String?
  var entries: [DecodedEntry] = []

  init(from decoder: Decoder) throws {
    let m = try ConfigMapping(decoder, notMapping: "must be a mapping with a `rules:` list (see Docs/RULES.md)")
    try m.rejectUnknownKeys(["name", "description", "rules"], what: "top-level key")
    name = try m.string("name")
    description = try m.string("description")
    guard m.has("rules") else { throw ConfigProblem("has no `rules:` list (see Docs/RULES.md)") }
    guard var list = try? m.container.nestedUnkeyedContainer(forKey: AnyKey("rules")) else {
      throw ConfigProblem("`rules:` must be a list of entries such as `- {op: Conv, rule: zplus}`")
    }
    while !list.isAtEnd {
      let i = list.currentIndex
      do {
        entries.append(try list.decode(DecodedEntry.self))
      } catch var problem as ConfigProblem {
        problem.entry = i
        throw problem
      } catch {
        throw ConfigProblem(entry: i, "must be a mapping such as `{op: Conv, rule: zplus}`")
      }
    }
    if entries.isEmpty { throw ConfigProblem("`rules:` is empty; give at least one entry") }
  }
}

/// One entry as decoded and checked on its own.
struct DecodedEntry: Decodable {
  var ops: [String]?
  var names: [String]?
  var position: LayerPosition?
  var index: LayerRange?
  var rule: RuleSpec
  var line: Int?

  init(from decoder: Decoder) throws {
    line = decoder.mark?.line
    let m = try ConfigMapping(decoder, notMapping: "must be a mapping such as `{op: Conv, rule: zplus}`")
    try m.rejectUnknownKeys(RuleEntry.matcherKeys + ["rule"] + RuleSet.parameterKeys, what: "key")
    guard let ruleText = try m.string("rule") else {
      throw ConfigProblem("has no `rule:` (rules: \(RuleSet.ruleNames.joined(separator: ", ")))")
    }
    let ruleName = ruleText.lowercased()
    guard let allowed = RuleSet.ruleParameters[ruleName] else {
      throw ConfigProblem("unknown rule `\(ConfigYAML.excerpt(ruleText))` (rules: \(RuleSet.ruleNames.joined(separator: ", ")))")
    }
    for key in m.keys where RuleSet.parameterKeys.contains(key) && !allowed.contains(key) {
      let takes = allowed.isEmpty ? "it takes no parameters" : "it takes \(allowed.joined(separator: ", "))"
      throw ConfigProblem("`\(key)` is not a parameter of \(ruleName) (\(takes))")
    }
    let bias = try m.bool("bias")
    rule = try DecodedEntry.ruleSpec(ruleName, m, bias: bias)

    // Matchers.
    if let opTexts = try m.strings("op") {
      var ops: [String] = []
      for text in opTexts { for op in try RuleSet.resolveOp(text) where !ops.contains(op) { ops.append(op) } }
      self.ops = ops
    }
    names = try m.strings("name")
    if let text = try m.string("position") {
      guard let p = LayerPosition(rawValue: text.lowercased()) else {
        throw ConfigProblem("`position` must be first or last (the first or last Conv/Dense layer), not `\(ConfigYAML.excerpt(text))`")
      }
      position = p
    }
    if let text = try m.scalarText("index") {
      guard let range = LayerRange(parsing: text) else {
        throw ConfigProblem("`index` must be a linear-layer index or range such as 0, -1, 1..3, 2.., ..-2; not `\(ConfigYAML.excerpt(text))`")
      }
      index = range
    }

    // What the entry can select, checked against what the rule serves.
    let definition = RuleCatalog.definition(named: ruleName)!
    let targets = rule.targets
    if let ops {
      let bad = ops.filter { RuleTarget.targets(opName: $0).isDisjoint(with: targets) }
      if !bad.isEmpty {
        throw ConfigProblem("rule \(ruleName) cannot serve \(bad.joined(separator: ", ")); it applies to \(RuleSet.servesText(ruleName))")
      }
    }
    if let only = definition.onlyOps, ops.map({ !Set($0).isSubset(of: only) }) ?? true {
      throw ConfigProblem("rule \(ruleName) serves \(only.joined(separator: ", ")) only: write `{op: \(only.joined(separator: ", ")), rule: \(ruleName)}`")
    }
    let selected = ops.map { Set($0.flatMap(RuleTarget.targets(opName:))).intersection(targets) } ?? targets
    if position != nil || index != nil {
      let key = position != nil ? "position" : "index"
      if !targets.contains(.linear) {
        throw ConfigProblem("`\(key)` counts linear layers (Conv, Dense), which rule \(ruleName) cannot serve")
      }
      if let ops, let other = ops.first(where: { !RuleTarget.targets(opName: $0).contains(.linear) }) {
        throw ConfigProblem("`\(key)` counts linear layers (Conv, Dense), but `op` names \(other)")
      }
    }
    if bias != nil && !selected.contains(.linear) {
      throw ConfigProblem("`bias` applies to Conv and Dense layers only")
    }
  }

  /// `x` as the 32-bit float rules compute with; a number beyond Float's range is an error.
  static func float(_ key: String, _ x: Double) throws -> Float {
    let f = Float(x)
    guard f.isFinite else {
      throw ConfigProblem("`\(key)` \(x) is too large for 32-bit floats (largest \(Float.greatestFiniteMagnitude)), which rules compute with")
    }
    return f
  }

  static func ruleSpec(_ rule: String, _ m: ConfigMapping, bias: Bool?) throws -> RuleSpec {
    try RuleCatalog.definition(named: rule)!.parse(m, bias)
  }
}
