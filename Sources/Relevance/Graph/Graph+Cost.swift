/// Size and cost figures of canonical graphs, as `clrp inspect` reports them.
extension Graph {
  /// The shape of a value: an activation's inferred shape or a constant's shape.
  public func shape(of value: ValueName) -> [Int]? {
    constants[value]?.shape ?? shapes[value]
  }

  /// Number of parameters a node reads from constants (weights, biases, affine scales and shifts).
  public func parameterCount(_ node: Node) -> Int {
    node.inputs.reduce(0) { $0 + (constants[$1]?.count ?? 0) }
  }

  /// Multiply-accumulates of a conv or dense node for the whole bound batch; 0 for other ops.
  /// Conv: outputs × (C/group · kH · kW); dense: N · M · K.
  public func multiplyAccumulates(_ node: Node) -> Int {
    switch node.op {
    case .conv:
      guard let out = shapes[node.output], let w = shape(of: node.inputs[1]) else { return 0 }
      return out.elementCount * w.dropFirst().reduce(1, *)
    case .convTranspose:
      guard let x = shapes[node.inputs[0]], let w = shape(of: node.inputs[1]) else { return 0 }
      return x.elementCount * w.dropFirst().reduce(1, *)
    case .dense:
      guard let out = shapes[node.output], let w = shape(of: node.inputs[1]) else { return 0 }
      return out.elementCount * w[1]
    default:
      return 0
    }
  }
}
