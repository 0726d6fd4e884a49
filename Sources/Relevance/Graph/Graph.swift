/// The name of a value flowing along an edge, as in the ONNX file.
public typealias ValueName = String

/// One operation of the IR: an `Op` with attributes, reading and writing named values.
/// Weights and other parameters are inputs naming entries of `Graph.constants`, as in ONNX.
public struct Node: Equatable, Sendable {
  public var name: String
  public var op: Op
  public var inputs: [ValueName]
  public var outputs: [ValueName]
  /// The ONNX operator this node was imported from (kept through canonicalization, for messages).
  public var sourceOpType: String

  public init(name: String, op: Op, inputs: [ValueName], outputs: [ValueName], sourceOpType: String) {
    self.name = name
    self.op = op
    self.inputs = inputs
    self.outputs = outputs
    self.sourceOpType = sourceOpType
  }

  public var output: ValueName { outputs[0] }
}

/// A dimension of a declared model input: a number, or a name for a size chosen at run time.
public enum Dimension: Equatable, Sendable, CustomStringConvertible {
  case fixed(Int)
  case symbolic(String)

  public var description: String {
    switch self {
    case .fixed(let n): return String(n)
    case .symbolic(let s): return s.isEmpty ? "?" : s
    }
  }
}

/// A CNN as a typed dataflow graph with one float input.
///
/// Invariants kept by the importer and every pass: `nodes` is in topological order; every
/// node input is the graph input, a constant, or an output of an earlier node; a value has one
/// producer. `shapes` holds the shape of every value known so far (filled by shape inference).
public struct Graph: Sendable {
  public var name: String
  /// Where the graph came from (a file path), for messages.
  public var source: String
  public var input: ValueName
  public var declaredInputShape: [Dimension]
  public var outputs: [ValueName]
  public var nodes: [Node]
  public var constants: [ValueName: Constant]
  public var shapes: [ValueName: [Int]] = [:]
  public var opsetVersion: Int
  public var producer: String
  /// The model file's `metadata_props`.
  public var metadata: [String: String] = [:]
  /// Things the user should know that are not errors (e.g. an opset newer than tested).
  public var notes: [String] = []
  /// What each imported Split requires of the axis it splits, by the name of each of its piece
  /// (Slice) nodes: checked by shape inference once the axis length is known (`SplitRequirement`).
  public var splitRequirements: [String: SplitRequirement] = [:]

  public init(name: String, source: String, input: ValueName, declaredInputShape: [Dimension],
              outputs: [ValueName], nodes: [Node], constants: [ValueName: Constant],
              opsetVersion: Int, producer: String) {
    self.name = name
    self.source = source
    self.input = input
    self.declaredInputShape = declaredInputShape
    self.outputs = outputs
    self.nodes = nodes
    self.constants = constants
    self.opsetVersion = opsetVersion
    self.producer = producer
  }

  /// A model error located at `node` of this graph.
  public func error(_ node: Node, _ message: String) -> ModelError {
    ModelError(file: source, node: node.name, opType: node.sourceOpType, message)
  }

  public func isConstant(_ value: ValueName) -> Bool { constants[value] != nil }

  /// The constant behind input `index` of `node`, or nil when it is absent or computed at run time.
  public func constant(_ node: Node, _ index: Int) -> Constant? {
    index < node.inputs.count ? constants[node.inputs[index]] : nil
  }

  /// Index of the node producing each value.
  public func producers() -> [ValueName: Int] {
    var map: [ValueName: Int] = [:]
    for (i, node) in nodes.enumerated() { for out in node.outputs { map[out] = i } }
    return map
  }

  /// Indices of the nodes reading each value (graph outputs are not counted).
  public func consumers() -> [ValueName: [Int]] {
    var map: [ValueName: [Int]] = [:]
    for (i, node) in nodes.enumerated() { for input in node.inputs { map[input, default: []].append(i) } }
    return map
  }

  /// Replaces every use of `old` (node inputs and graph outputs) by `new`.
  public mutating func replaceUses(of old: ValueName, with new: ValueName) {
    for i in nodes.indices {
      for j in nodes[i].inputs.indices where nodes[i].inputs[j] == old { nodes[i].inputs[j] = new }
    }
    for j in outputs.indices where outputs[j] == old { outputs[j] = new }
  }

  /// Drops constants that no node reads.
  public mutating func removeUnusedConstants() {
    let read = Set(nodes.flatMap { $0.inputs }).union(outputs)
    constants = constants.filter { read.contains($0.key) }
  }
}

extension Graph {
  /// A value name derived from `base` that no constant, node output or the input uses.
  public func unusedName(_ base: String) -> ValueName {
    let used = Set(nodes.flatMap(\.outputs)).union(constants.keys).union([input])
    var name = base
    var k = 1
    while used.contains(name) { name = "\(base)_\(k)"; k += 1 }
    return name
  }

  /// Adds a constant under a fresh name derived from `base`; returns the name.
  public mutating func addConstant(_ base: String, _ value: Constant) -> ValueName {
    var name = base
    var k = 1
    while constants[name] != nil || shapes[name] != nil || name == input { name = "\(base)_\(k)"; k += 1 }
    constants[name] = value
    return name
  }
}
