/// ONNX Split imported as one Slice node per output (Split-2, -11, -13 and -18; opsets 7 and up).
///
/// The pieces along `axis` (attribute, default 0) are, in order:
/// - the sizes in `split` (an attribute before opset 13, the second input from 13 on), when
///   given; they must be constants at import, non-negative (ONNX) and positive (clrp has no
///   empty tensors), one per output, and add up to the axis length d;
/// - else `num_outputs` (opset 18, required there when `split` is absent) or, before opset 18,
///   as many as the node has outputs: n pieces of c = ⌈d / n⌉ elements each, the last one
///   d − (n − 1)·c. Before opset 18 n must divide d (all pieces equal); opset 18 allows a
///   smaller last piece, never a negative one (onnxruntime refuses d − (n − 1)·c < 0) and here
///   not an empty one.
/// The axis length is known only once the input shape is bound, so the equal split's bounds
/// are written as shape arithmetic that shape inference folds: c = (Shape(x)[axis] + n − 1) / n,
/// piece i = Slice(x, starts: c·i, ends: c·(i + 1), axes: [axis]) (Slice clamps the last end);
/// and what the Split requires of d (`SplitRequirement`) goes with each piece, for shape
/// inference to check before it infers or folds the piece.
struct SplitAsSlices {
  let record: ONNXFile.NodeRecord
  let opset: Int
  let attributes: ONNXAttributes
  let inputs: [ValueName]
  let fail: (String) -> ModelError
  /// Adds a constant under a fresh name derived from the node's and returns that name.
  let addConstant: (Constant, String) -> ValueName
  /// A value name derived from the node's that no constant holds.
  let freshName: (String) -> ValueName

  /// The nodes that compute the pieces (Slices, and the shape arithmetic of an equal split)
  /// and what the Split requires of its axis length.
  func lowered(knownConstant: (Int) -> Constant?) throws -> (nodes: [Node], requirement: SplitRequirement) {
    guard !inputs.isEmpty, !inputs[0].isEmpty else { throw fail("has no input") }
    let x = inputs[0], outputs = record.outputs
    let axis = try attributes.int("axis", 0)
    var sizes: [Int]? = nil
    if opset < 13 {
      sizes = try attributes.ints("split")
    } else if inputs.count > 1 {
      guard let split = knownConstant(1) else {
        throw fail("its split input '\(inputs[1])' must be a constant")
      }
      sizes = split.ints
    }
    let pieces: SplitRequirement.Pieces
    if let sizes {
      guard sizes.count == outputs.count else {
        throw fail("split \(sizes) has \(sizes.count) entries for \(outputs.count) outputs")
      }
      guard sizes.allSatisfy({ $0 >= 0 }) else { throw fail("split sizes \(sizes) must not be negative") }
      guard !sizes.contains(0) else {
        throw fail("split sizes \(sizes) give an empty piece; empty tensors are not supported")
      }
      guard sizes.allSatisfy({ $0 <= maxTensorElements }) else { throw fail("split sizes \(sizes) are implausibly large") }
      if opset >= 18, attributes.has("num_outputs") { throw fail("gives both the split input and num_outputs") }
      pieces = .sizes(sizes)
    } else if opset >= 18 {
      guard attributes.has("num_outputs") else { throw fail("needs the split input or the num_outputs attribute") }
      let n = try attributes.int("num_outputs", 0)
      guard n == outputs.count else { throw fail("num_outputs \(n) differs from its \(outputs.count) outputs") }
      pieces = .unevenLast(n)
    } else {
      pieces = .equal(outputs.count)
    }
    let requirement = SplitRequirement(node: record.name, opType: record.opType, input: x, axis: axis, pieces: pieces)

    let axes = addConstant(Constant(shape: [1], ints: [axis]), "axes")
    func slice(_ i: Int, starts: ValueName, ends: ValueName) -> Node {
      Node(name: outputs.count == 1 ? record.name : "\(record.name)[\(i)]", op: .slice,
           inputs: [x, starts, ends, axes], outputs: [outputs[i]], sourceOpType: record.opType)
    }
    if case .sizes(let sizes) = pieces {
      var start = 0
      let nodes = sizes.enumerated().map { i, size in
        defer { start += size }
        return slice(i, starts: addConstant(Constant(shape: [1], ints: [start]), "starts\(i)"),
                     ends: addConstant(Constant(shape: [1], ints: [start + size]), "ends\(i)"))
      }
      return (nodes, requirement)
    }
    let n = outputs.count
    var nodes: [Node] = []
    func arithmetic(_ suffix: String, _ op: Op, _ operands: [ValueName]) -> ValueName {
      let output = freshName(suffix)
      nodes.append(Node(name: output, op: op, inputs: operands, outputs: [output], sourceOpType: record.opType))
      return output
    }
    let size = arithmetic("axis_size", .shape(start: axis, end: axis == -1 ? nil : axis + 1), [x])
    let padded = arithmetic("axis_size_plus", .elementwise(.add), [size, addConstant(Constant(shape: [1], ints: [n - 1]), "pieces_minus_one")])
    let chunk = arithmetic("chunk", .elementwise(.div), [padded, addConstant(Constant(shape: [1], ints: [n]), "pieces")])
    for i in 0..<n {
      let starts = arithmetic("starts\(i)", .elementwise(.mul), [chunk, addConstant(Constant(shape: [1], ints: [i]), "index\(i)")])
      let ends = arithmetic("ends\(i)", .elementwise(.mul), [chunk, addConstant(Constant(shape: [1], ints: [i + 1]), "index\(i + 1)")])
      nodes.append(slice(i, starts: starts, ends: ends))
    }
    return (nodes, requirement)
  }
}

/// What an imported ONNX Split requires of the length of the axis it splits, which the
/// importer does not know (the shape of the Split's input is bound later). Each of the Split's
/// pieces carries it (`Graph.splitRequirements`, by piece node name) and shape inference checks
/// it on the piece's input shape (`NodeShapes.sliceGeometry`) before it infers or folds the
/// piece: a Split that onnxruntime refuses is refused with the numbers, instead of pieces
/// that silently drop or clamp the tail of the axis.
public struct SplitRequirement: Equatable, Sendable {
  /// How the Split divides the axis (ONNX Split, see `SplitAsSlices`).
  public enum Pieces: Equatable, Sendable {
    /// The sizes given by `split`: they must add up to the axis length.
    case sizes([Int])
    /// n equal pieces (no `split`, before opset 18): n must divide the axis length.
    case equal(Int)
    /// Opset 18's `num_outputs` n: pieces of c = ⌈d / n⌉, the last one d − (n − 1)·c, which
    /// must be positive (ONNX allows 0; clrp has no empty tensors).
    case unevenLast(Int)
  }

  /// The Split node's name and ONNX op type, for messages.
  public let node: String
  public let opType: String
  /// The value split, for messages.
  public let input: ValueName
  /// The axis as the node gives it (negative counts from the back).
  public let axis: Int
  public let pieces: Pieces

  /// Why the Split cannot divide an axis of length `d`, or nil when it can.
  public func refusal(axisLength d: Int) -> String? {
    switch pieces {
    case .sizes(let sizes):
      let sum = sizes.reduce(0, +)
      return sum == d ? nil : "split sizes \(sizes) add up to \(sum), but the axis has length \(d); they must add up to it"
    case .equal(let n):
      return d % n == 0 ? nil
        : "\(n) equal pieces do not divide the axis length \(d) (without `split`, pieces must be equal before opset 18; opset 18's num_outputs allows a smaller last piece)"
    case .unevenLast(let n):
      let c = (d + n - 1) / n, last = d - (n - 1) * c
      if last > 0 { return nil }
      let why = last < 0 ? "leaving \(last) for the last: num_outputs is too large for this axis (onnxruntime refuses it)"
                         : "leaving an empty last piece; empty tensors are not supported"
      return "num_outputs \(n) cuts the axis of length \(d) into pieces of ⌈\(d)/\(n)⌉ = \(c), \(n - 1) of which take \((n - 1) * c), \(why)"
    }
  }

  /// Checks the requirement against the Split input's shape; the error names the file, the
  /// Split node, the axis and the input's shape.
  func check(inputShape shape: [Int], file: String) throws {
    func fail(_ message: String) -> ModelError { ModelError(file: file, node: node, opType: opType, message) }
    guard let a = normalizedAxis(axis, rank: shape.count) else {
      throw fail("axis \(axis) is out of range for its input '\(input)' of shape \(shape)")
    }
    if let reason = refusal(axisLength: shape[a]) {
      throw fail("splitting axis \(axis) of '\(input)' (shape \(shape)): \(reason)")
    }
  }
}
