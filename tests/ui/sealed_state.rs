// The set of states is closed: a ninth state cannot be added outside the crate.
use capt_controlplane::state::*;

enum Exploding {}

impl State for Exploding {
    const NAME: StateName = StateName::Failed;
}

fn main() {}
