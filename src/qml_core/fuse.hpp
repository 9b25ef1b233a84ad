// The compiler's gate fusion: a circuit's operations, as a flat word stream, become
// the program's blocks (one unitary on a few qubits each) and noise channels. The
// products of constant blocks are multiplied out here too. qml/circuits/fusion.py is
// the Python side; docs/native-core.md describes the arrays.
#pragma once

#include <cstdint>
#include <vector>

#include "batch.hpp"

namespace qml {

// What a gate of the circuit's gate table does in a program.
enum GateRole : std::int8_t {
  kConstantGate = 0,  // a unitary without symbols: its matrix is in the gate table
  kSymbolicGate,      // a unitary bound per row
  kIdentityGate,      // dropped
  kMeasureGate,       // dropped; no later operation may touch its qubits
  kChannelGate,       // a noise channel: gates are never fused across it
  kNumGateRoles
};

// A circuit's gate table: per gate its qubit count, role, and (constant gates) the
// offset of its row-major matrix in `matrices`.
struct GateTable {
  Span<std::int32_t> widths;
  Span<std::int8_t> roles;
  Span<std::int64_t> offsets;
  Span<cdouble> matrices;
};

// Columns of the item table: the program's blocks and channels, in order.
enum ItemField : int {
  kItemIsChannel = 0,  // 0: a block; 1: a noise channel
  kItemQubitStart,     // first entry in qubits: targets, then controls
  kItemTargets,
  kItemControls,
  kItemControlValues,  // bit j: the value control j must hold
  kItemStepStart,      // first entry in steps (a channel: one step, its gate)
  kItemSteps,
  kItemMatrix,         // a constant block: its product's offset in matrices; else -1
  kNumItemFields
};

// Why a circuit could not be fused: FusedProgram::error[0]; error[1] is the operation.
enum FuseError : std::int64_t {
  kFuseOk = 0,
  kMalformedOperation,  // bad gate index, qubit, width or control value
  kGateAfterMeasure,    // error[2]: the qubit; error[3]: the measurement's operation
  kControlledChannel,
  kControlledMeasure,
};

struct FusedProgram {
  std::vector<std::int64_t> items;   // [items, kNumItemFields]
  std::vector<std::int32_t> qubits;  // each item's targets, then controls
  std::vector<std::int32_t> steps;   // [steps, 2]: gate, first entry in places
  std::vector<std::int32_t> places;  // a step's gate acts on the item's targets[place]
  std::vector<cdouble> matrices;     // constant blocks' products, row-major
  std::int64_t error[4] = {kFuseOk, 0, 0, 0};
};

// Fuses `num_ops` operations on `num_qubits` qubits. Each operation in `words` is
// gate, n_targets, targets..., n_controls, controls..., control values...
// The table's spans must already be checked consistent (see bindings.cpp).
FusedProgram fuse(Span<std::int64_t> words, std::int64_t num_ops, const GateTable& gates,
                  std::int64_t num_qubits);

}  // namespace qml
