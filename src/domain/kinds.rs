//! The closed vocabularies of the registry: kinds of employers and funders, activity fields,
//! cost categories. Each is one enum, read from and written to the same snake_case names in
//! JSON and in the database.

/// Declares a closed vocabulary: the enum, its names, and its serde form.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and transmitted name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Reads a stored name back.
            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// What kind of body carries posts.
    EmployerKind {
        /// An association.
        Association => "association",
        /// An employer grouping (GE, GEIQ).
        EmployerGrouping => "employer_grouping",
        /// A municipality or other local authority employing directly.
        LocalAuthority => "local_authority",
        /// A public-interest group (GIP).
        PublicInterestGroup => "public_interest_group",
        /// A social landlord.
        SocialLandlord => "social_landlord",
        /// A transport operator.
        TransportOperator => "transport_operator",
        /// Anything else.
        Other => "other",
    }
}

vocabulary! {
    /// What kind of commissioning body funds posts.
    FunderKind {
        /// The State (adultes-relais aid and others).
        State => "state",
        /// The regional council.
        Region => "region",
        /// A département.
        Department => "department",
        /// A municipality.
        Municipality => "municipality",
        /// An intermunicipal body.
        Intermunicipality => "intermunicipality",
        /// A social landlord.
        SocialLandlord => "social_landlord",
        /// A transport operator.
        TransportOperator => "transport_operator",
        /// A utility.
        Utility => "utility",
        /// A public bank (Caisse des Dépôts…).
        PublicBank => "public_bank",
        /// A company.
        Company => "company",
        /// Anything else.
        Other => "other",
    }
}

vocabulary! {
    /// The field a mediator works in.
    Activity {
        /// Housing estates.
        Housing => "housing",
        /// Buses and trains.
        Transport => "transport",
        /// School gates.
        Education => "education",
        /// Health.
        Health => "health",
        /// Public space.
        PublicSpace => "public_space",
        /// Access to rights and public services.
        AccessToRights => "access_to_rights",
        /// Anything else.
        Other => "other",
    }
}

vocabulary! {
    /// What a cost is for.
    CostCategory {
        /// Salary.
        Salary => "salary",
        /// Employer social charges.
        EmployerCharges => "employer_charges",
        /// Training.
        Training => "training",
        /// Supervision.
        Supervision => "supervision",
        /// Equipment.
        Equipment => "equipment",
        /// Overhead.
        Overhead => "overhead",
        /// Anything else.
        Other => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for kind in FunderKind::ALL {
            assert_eq!(FunderKind::parse(kind.as_str()), Some(*kind));
            let json = serde_json::to_string(kind).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(Activity::parse("Housing"), None);
        assert!(serde_json::from_str::<EmployerKind>("\"charity\"").is_err());
    }
}
