/// A constant zero Pad of the spatial axes in front of a Conv (tf2onnx writes Keras'
/// `ZeroPadding2D` and the explicit padding of strided 'valid' convs this way, and torch's
/// `F.pad` does too) becomes the Conv's own padding:
///
///   Conv(window, Pad(x, [0, 0, t, l, 0, 0, b, r], 0))  =  Conv(window + pads (t, l, b, r), x)
///
/// The function is the same: the conv reads the same zeros. Relevance differs, which is why
/// the fold matters: an explicit Pad's zeros are inputs of the layer, and rules that give
/// relevance to inputs whatever their value (flat, w², zplus-flat's flat part, z^B's bounds)
/// send some to them, which the Pad's backward step (a crop) then drops; the conv's own
/// padding is excluded by every rule (`LinearRuleLowering`).
///
/// A MaxPool reading the Pad takes its padding too when the padded input cannot be negative
/// (a ReLU output): max over zeros and values ≥ 0 is max over the values alone, since onnxruntime
/// and clrp never let a window lie wholly in the padding (pads < kernel). Not in ceil mode,
/// where the rule that drops a last window starting in the padding would see other pads.
///
/// Only when every reader of the Pad is such a Conv or MaxPool (and the Pad's output is no
/// graph output), the pads are non-negative (no crop) and the Pad touches axes 2 and 3 only.
///
/// A Pad whose only reader is a Transpose first moves below it, its pads permuted alike
/// (tf2onnx leaves MobileNetV3's ZeroPadding2D on the NHWC side of the Transpose to NCHW):
///
///   Transpose(p)(Pad(x, pads))  =  Pad(Transpose(p)(x), pads permuted by p)
public struct FoldPadIntoWindow: GraphPass {
  public init() {}
  public var name: String { "fold-pad-into-window" }

  public func run(on graph: inout Graph) throws -> Bool {
    var changed = false
    while sinkOnePadBelowTranspose(&graph) { changed = true }
    var nonNegative: Set<ValueName>?
    let consumers = graph.consumers()
    var removed: Set<Int> = []
    for (index, pad) in graph.nodes.enumerated() where pad.op == .pad {
      guard let spatial = spatialZeroPads(pad, graph), !graph.outputs.contains(pad.output),
            let readers = consumers[pad.output], !readers.isEmpty else { continue }
      let foldable = readers.allSatisfy { reader -> Bool in
        let node = graph.nodes[reader]
        guard node.inputs[0] == pad.output, !node.inputs.dropFirst().contains(pad.output) else { return false }
        switch node.op {
        case .conv: return true
        case .maxPool(let pool):
          if nonNegative == nil { nonNegative = graph.nonNegativeValues() }
          let w = pool.window
          return !w.ceilMode && nonNegative!.contains(pad.inputs[0])
            && w.padTop + spatial.top < w.kernelH && w.padBottom + spatial.bottom < w.kernelH
            && w.padLeft + spatial.left < w.kernelW && w.padRight + spatial.right < w.kernelW
        default: return false
        }
      }
      guard foldable else { continue }
      for reader in readers {
        var node = graph.nodes[reader]
        switch node.op {
        case .conv(var conv):
          conv.window.add(spatial)
          node.op = .conv(conv)
        case .maxPool(var pool):
          pool.window.add(spatial)
          node.op = .maxPool(pool)
        default: continue
        }
        node.inputs[0] = pad.inputs[0]
        graph.nodes[reader] = node
      }
      removed.insert(index)
      changed = true
    }
    for index in removed.sorted(by: >) {
      graph.shapes[graph.nodes[index].output] = nil
      graph.nodes.remove(at: index)
    }
    return changed
  }

  /// Moves one constant zero Pad below the Transpose that is its only reader; false when there is none.
  func sinkOnePadBelowTranspose(_ graph: inout Graph) -> Bool {
    let consumers = graph.consumers()
    for (index, pad) in graph.nodes.enumerated() where pad.op == .pad {
      guard !graph.outputs.contains(pad.output), let readers = consumers[pad.output], readers.count == 1,
            case .transpose(let perm) = graph.nodes[readers[0]].op,
            let pads = graph.constant(pad, 1)?.ints, pads.count == 2 * perm.count, pads.allSatisfy({ $0 >= 0 }),
            padsWithZeros(pad, graph)
      else { continue }
      let t = readers[0]
      var transpose = graph.nodes[t]
      let rank = perm.count
      let moved = perm.map { pads[$0] } + perm.map { pads[rank + $0] }
      let transposed = graph.unusedName(transpose.output + "::unpadded")
      transpose.inputs = [pad.inputs[0]]
      let output = transpose.output
      transpose.outputs = [transposed]
      var newPad = pad
      newPad.inputs = [transposed, graph.addConstant("\(pad.name).pads", Constant(shape: [2 * rank], ints: moved))]
      newPad.outputs = [output]
      graph.shapes[pad.output] = nil
      graph.shapes[output] = nil
      graph.nodes[t] = newPad
      graph.nodes[index] = transpose
      return true
    }
    return false
  }

  /// The Pad's amounts on H and W when it pads a rank-4 value with constant zeros there only.
  func spatialZeroPads(_ pad: Node, _ graph: Graph) -> (top: Int, left: Int, bottom: Int, right: Int)? {
    guard let pads = graph.constant(pad, 1)?.ints, pads.count == 8, pads.allSatisfy({ $0 >= 0 }),
          pads[0] == 0, pads[1] == 0, pads[4] == 0, pads[5] == 0, padsWithZeros(pad, graph) else { return nil }
    return (pads[2], pads[3], pads[6], pads[7])
  }

  /// Whether the Pad's value is 0: absent (ONNX's default) or a constant zero.
  func padsWithZeros(_ pad: Node, _ graph: Graph) -> Bool {
    pad.inputs.count < 3 || pad.inputs[2].isEmpty || graph.constant(pad, 2)?.floats.allSatisfy({ $0 == 0 }) == true
  }
}

extension Window2D {
  /// Widens the padding by the given amounts.
  mutating func add(_ pads: (top: Int, left: Int, bottom: Int, right: Int)) {
    padTop += pads.top; padLeft += pads.left; padBottom += pads.bottom; padRight += pads.right
  }
}
