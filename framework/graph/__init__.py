"""The functional graph: symbolic tensors, nodes and topological order."""
from framework.graph.node import Node, topological_order
from framework.graph.tensor import SymbolicTensor, is_symbolic
