/// Every failure clrp reports about a model or its inputs: which file, which node, what is wrong.
///
/// Rendered as `file: node 'name' (OpType): message`, with the parts that are known.
public struct ModelError: Error, CustomStringConvertible, Equatable {
  public var file: String?
  public var nodeName: String?
  public var opType: String?
  public var message: String

  public init(file: String? = nil, node: String? = nil, opType: String? = nil, _ message: String) {
    self.file = file
    self.nodeName = node
    self.opType = opType
    self.message = message
  }

  public var description: String {
    var parts: [String] = []
    if let file { parts.append(file) }
    if let nodeName {
      parts.append("node '\(nodeName)'" + (opType.map { " (\($0))" } ?? ""))
    } else if let opType {
      parts.append(opType)
    }
    parts.append(message)
    return parts.joined(separator: ": ")
  }
}
