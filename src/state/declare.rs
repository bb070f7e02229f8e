//! The one declaration of the state machine: from a list of states and a list of legal edges it
//! generates the typed view (sealed marker types and one consuming method per edge) and the
//! runtime view (the [`StateName`](super::StateName) enum, the rehydrated
//! [`AnyControlPlane`](super::AnyControlPlane), and the [`TRANSITIONS`](super::TRANSITIONS) table),
//! so the two cannot drift apart.

macro_rules! state_machine {
    (
        states {
            $( $(#[$sdoc:meta])* $state:ident = $percent:literal, )+
        }
        transitions {
            $( $from:ident => $to:ident via $method:ident($evidence:ty), )+
        }
    ) => {
        $(
            $(#[$sdoc])*
            #[derive(Debug)]
            pub enum $state {}
            impl sealed::Sealed for $state {}
            impl State for $state {
                const NAME: StateName = StateName::$state;
            }
        )+

        /// The name of a state: the runtime view of the typed markers, stored in `status.state`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum StateName {
            $( $(#[$sdoc])* $state, )+
        }

        impl StateName {
            /// Every state, in lifecycle order.
            pub const ALL: &'static [StateName] = &[ $( StateName::$state, )+ ];

            /// The name as stored in `status.state`.
            pub const fn as_str(self) -> &'static str {
                match self { $( StateName::$state => stringify!($state), )+ }
            }

            /// Percent complete on entering the state, before any step inside it.
            pub const fn base_percent(self) -> i32 {
                match self { $( StateName::$state => $percent, )+ }
            }
        }

        impl std::str::FromStr for StateName {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<Self, UnknownState> {
                match s {
                    $( stringify!($state) => Ok(StateName::$state), )+
                    other => Err(UnknownState(other.to_owned())),
                }
            }
        }

        /// A control plane in a state known only at run time, as read back from its status.
        /// Match on it to get the typed [`ControlPlane`] whose methods are the legal moves.
        #[derive(Debug)]
        pub enum AnyControlPlane {
            $( $(#[$sdoc])* $state(ControlPlane<$state>), )+
        }

        impl AnyControlPlane {
            /// The current state's name.
            pub fn state(&self) -> StateName {
                match self { $( AnyControlPlane::$state(_) => StateName::$state, )+ }
            }

            fn from_core(name: StateName, core: Core) -> Self {
                match name { $( StateName::$state => AnyControlPlane::$state(ControlPlane::from_core(core)), )+ }
            }

            /// The state-independent record: history, transitions made, timing.
            pub fn core(&self) -> &Core {
                match self { $( AnyControlPlane::$state(cp) => &cp.core, )+ }
            }

            fn into_core(self) -> Core {
                match self { $( AnyControlPlane::$state(cp) => cp.core, )+ }
            }
        }

        $(
            impl From<ControlPlane<$state>> for AnyControlPlane {
                fn from(cp: ControlPlane<$state>) -> Self { AnyControlPlane::$state(cp) }
            }
        )+

        /// Every legal transition as `(from, to, evidence type)`: generated from the same
        /// declaration as the typed methods.
        pub const TRANSITIONS: &[(StateName, StateName, &str)] = &[
            $( (StateName::$from, StateName::$to, stringify!($evidence)), )+
        ];

        $(
            impl ControlPlane<$from> {
                #[doc = concat!("Moves from ", stringify!($from), " to ", stringify!($to),
                    ", on the evidence [`", stringify!($evidence), "`].")]
                pub fn $method(self, evidence: $evidence) -> ControlPlane<$to> {
                    self.transition(evidence)
                }
            }
        )+
    };
}

pub(crate) use state_machine;
