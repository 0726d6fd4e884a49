import Foundation

/// What an explanation explains: output classes, or a neuron inside the network.
public enum ExplanationTarget: Hashable, Sendable, CustomStringConvertible {
  /// One class, or several whose start signals are summed (the paper's Fig. 1: one map for
  /// several classes).
  case classes([Int])
  case neuron(Neuron)

  public static func `class`(_ index: Int) -> ExplanationTarget { .classes([index]) }

  /// `3`, `3+7` for a class set, `NODE:5`, `NODE:c5-y3-x4` for neurons: the form used in
  /// file names.
  public var description: String {
    switch self {
    case .classes(let c): return c.map(String.init).joined(separator: "+")
    case .neuron(let n): return n.description
    }
  }
}

/// A neuron of a hidden value, named by a node (its output) or a value of the canonical graph.
public struct Neuron: Hashable, Sendable, CustomStringConvertible {
  public enum Selection: Hashable, Sendable {
    /// A unit of a dense output ([1, N]), or a whole channel of a conv output ([1, C, H, W]),
    /// whose score is the channel's summed activation.
    case index(Int)
    /// One position (channel, row, column) of a conv output.
    case position(channel: Int, y: Int, x: Int)
  }

  /// A node name or value name as `clrp inspect` prints them.
  public var node: String
  public var selection: Selection

  public init(node: String, selection: Selection) {
    self.node = node
    self.selection = selection
  }

  public var description: String {
    switch selection {
    case .index(let i): return "\(node):\(i)"
    case .position(let c, let y, let x): return "\(node):\(c),\(y),\(x)"
    }
  }
}

/// How targets are chosen, before the forward pass has given the scores.
public enum TargetSelection: Sendable, Equatable {
  /// Explicit targets.
  case targets([ExplanationTarget])
  /// The K highest-scoring classes, highest first.
  case top(Int)
  /// One target: `count` classes drawn at random (seeded) from the top `fromTop`, their start
  /// signals summed (the paper's Fig. 1).
  case randomClasses(count: Int, fromTop: Int, seed: UInt64)
  /// The K units (dense) or channels (conv, by summed activation) of a node with the highest
  /// scores.
  case topNeurons(node: String, count: Int)

  /// Parses `NODE:INDEX`, `NODE:C,Y,X`, `NODE:I,J,K` given to `--neurons` (several units or
  /// channels) or `NODE:top:N`. The node is everything before the first `:` that is followed
  /// by a number or `top:`, so node names may contain `:`.
  public static func parseNeurons(_ text: String, many: Bool) throws -> TargetSelection {
    let bad = ModelError("neuron '\(text)' is not NODE:INDEX, NODE:C,Y,X" + (many ? ", NODE:I,J,K or NODE:top:N" : ""))
    if let range = text.range(of: ":top:", options: .backwards) {
      guard many, let n = Int(text[range.upperBound...]), n > 0, range.lowerBound > text.startIndex else { throw bad }
      return .topNeurons(node: String(text[..<range.lowerBound]), count: n)
    }
    guard let colon = text.lastIndex(of: ":"), colon > text.startIndex else { throw bad }
    let node = String(text[..<colon])
    let numbers = text[text.index(after: colon)...].split(separator: ",", omittingEmptySubsequences: false)
      .map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !numbers.isEmpty, numbers.allSatisfy({ $0 != nil && $0! >= 0 }) else { throw bad }
    let values = numbers.map { $0! }
    if many {
      return .targets(values.map { .neuron(Neuron(node: node, selection: .index($0))) })
    }
    switch values.count {
    case 1: return .targets([.neuron(Neuron(node: node, selection: .index(values[0])))])
    case 3: return .targets([.neuron(Neuron(node: node, selection: .position(channel: values[0], y: values[1], x: values[2])))])
    default: throw bad
    }
  }
}

/// SplitMix64 (Steele, Lea, Flood 2014): the seeded generator behind `randomClasses`, the same
/// draws on every platform.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
