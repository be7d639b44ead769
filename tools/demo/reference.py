"""Reference data for the demo practice: names, places, payers, providers, fees.

All people are fictitious. Phone numbers use the 555-0100..0199 block reserved
for fiction; e-mail addresses use the reserved example.com/.org domains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

FIRST_NAMES: Final = (
    "Emma", "Liam", "Olivia", "Noah", "Ava", "Ethan", "Sophia", "Mason", "Isabella", "Lucas",
    "Mia", "Logan", "Charlotte", "James", "Amelia", "Benjamin", "Harper", "Elijah", "Evelyn", "Henry",
    "Abigail", "Jack", "Emily", "Owen", "Grace", "Samuel", "Chloe", "Daniel", "Nora", "Michael",
    "Hannah", "David", "Priya", "Wei", "Aisha", "Kwame", "Mei", "Arjun", "Fatima", "Tomasz",
    "Ngozi", "Hiroshi", "Linh", "Omar", "Siobhan", "Dmitri", "Keisha", "Tyrone", "Margaret", "Robert",
    "Patricia", "Richard", "Barbara", "Thomas", "Dorothy", "Gerald", "Shirley", "Walter", "Joan", "Frank",
)  # fmt: skip
LAST_NAMES: Final = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
    "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker",
    "Hall", "Young", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Campbell",
    "Patel", "Nguyen", "Chen", "Kim", "Okafor", "Mensah", "Kowalski", "O'Brien", "Murphy", "Sullivan",
    "Yamamoto", "Haddad", "Novak", "Ivanova", "Brennan", "Fitzgerald", "Osei", "Singh", "Tran", "Park",
)  # fmt: skip
FIRST_NAMES_ES: Final = (
    "José", "María", "Juan", "Guadalupe", "Luis", "Carmen", "Carlos", "Rosa", "Jorge", "Ana",
    "Miguel", "Lucía", "Alejandro", "Sofía", "Javier", "Valentina", "Ramón", "Elena", "Andrés", "Isabel",
)  # fmt: skip
LAST_NAMES_ES: Final = (
    "García", "Rodríguez", "Martínez", "Hernández", "López", "González", "Pérez", "Sánchez", "Ramírez",
    "Torres", "Flores", "Rivera", "Gómez", "Díaz", "Reyes", "Morales", "Cruz", "Ortiz", "Castillo", "Vargas",
)  # fmt: skip
STREETS: Final = (
    "Maple St", "Oak Ave", "Elm St", "Pleasant St", "Highland Ave", "Washington St", "Park Rd", "Cedar Ln",
    "Summer St", "Winter St", "Prospect Hill Rd", "Chestnut St", "Forest Ave", "Riverside Dr", "Spring St",
    "Lincoln Rd", "Church St", "School St", "Mill Pond Rd", "Salem St",
)  # fmt: skip
CITIES: Final = (  # (city, state, ZIP)
    ("Medford", "MA", "02155"), ("Somerville", "MA", "02144"), ("Malden", "MA", "02148"),
    ("Arlington", "MA", "02474"), ("Everett", "MA", "02149"), ("Melrose", "MA", "02176"),
    ("Stoneham", "MA", "02180"), ("Woburn", "MA", "01801"), ("Winchester", "MA", "01890"),
    ("Revere", "MA", "02151"), ("Chelsea", "MA", "02150"), ("Cambridge", "MA", "02139"),
)  # fmt: skip
AREA_CODES: Final = ("617", "781", "857", "339", "978", "508", "351", "774", "413", "603", "401", "207")
EMAIL_DOMAINS: Final = ("example.com", "example.org", "mail.example.com", "example.org")

PRIMARY_CARE: Final = (
    "Dr. Maya Patel, MD",
    "Dr. Samuel Okafor, DO",
    "Dr. Rebecca Lindqvist, MD",
    "Laura Chen, NP",
    "Daniel Rivera, PA-C",
)
ORTHOPEDICS: Final = ("Dr. Hannah Brooks, MD", "Dr. Victor Almeida, MD")


@dataclass(frozen=True, slots=True)
class PlanDesign:
    payer: str
    plan_type: str
    allowed_permille: int  # payer's fee schedule as a share of our charges
    deductible: tuple[int, int]  # range, cents
    coinsurance: int  # percent
    copay: tuple[int, int]  # range, cents
    oop_extra: tuple[int, int]  # out-of-pocket max above the deductible, cents; (0, 0) = no maximum


MEDICARE: Final = PlanDesign("Medicare", "Medicare Part B", 450, (28300, 28300), 20, (0, 0), (0, 0))
MEDICAID: Final = PlanDesign("Medicaid", "Medicaid", 360, (0, 0), 0, (0, 0), (0, 0))
MEDIGAP: Final = (
    ("AARP Medicare Supplement (UnitedHealthcare)", "Medigap Plan G"),
    ("Mutual of Omaha", "Medigap Plan G"),
    ("Blue Cross Blue Shield", "Medigap Plan G"),
)

COPAY_PLANS: Final = (  # no deductible, no coinsurance: a visit costs the copay
    PlanDesign("Kaiser Permanente", "HMO", 520, (0, 0), 0, (2000, 4000), (300000, 500000)),
    PlanDesign("Aetna", "HMO", 610, (0, 0), 0, (2500, 4500), (300000, 600000)),
    PlanDesign("UnitedHealthcare", "HMO", 600, (0, 0), 0, (2500, 5000), (300000, 600000)),
    PlanDesign("Blue Cross Blue Shield", "HMO", 580, (0, 0), 0, (2000, 4000), (300000, 600000)),
    PlanDesign("Humana", "HMO", 550, (0, 0), 0, (2000, 3500), (300000, 500000)),
    PlanDesign("Cigna", "EPO", 640, (0, 0), 0, (3000, 5000), (400000, 650000)),
)
HDHP_PLANS: Final = (
    PlanDesign("Aetna", "HDHP", 620, (320000, 700000), 20, (0, 0), (100000, 200000)),
    PlanDesign("UnitedHealthcare", "HDHP", 600, (320000, 700000), 20, (0, 0), (100000, 200000)),
    PlanDesign("Cigna", "HDHP", 640, (320000, 700000), 20, (0, 0), (100000, 200000)),
    PlanDesign("Blue Cross Blue Shield", "HDHP", 580, (320000, 700000), 20, (0, 0), (100000, 200000)),
)
PPO_PLANS: Final = (  # deductible, then coinsurance; office visits carry a copay
    PlanDesign("Aetna", "PPO", 620, (50000, 250000), 20, (2500, 4000), (300000, 500000)),
    PlanDesign("UnitedHealthcare", "PPO", 600, (50000, 250000), 20, (2500, 4000), (300000, 500000)),
    PlanDesign("Cigna", "POS", 640, (75000, 200000), 30, (3000, 4000), (300000, 500000)),
    PlanDesign("Blue Cross Blue Shield", "PPO", 580, (50000, 200000), 20, (2000, 3500), (300000, 500000)),
    PlanDesign("Humana", "PPO", 550, (100000, 250000), 30, (3000, 4500), (400000, 600000)),
    PlanDesign("UnitedHealthcare", "EPO", 600, (100000, 200000), 20, (3000, 4000), (300000, 500000)),
)

# Our practice's charges (cents per unit). Codes starting with a letter are HCPCS Level II.
FEES: Final[dict[str, int]] = {
    "99202": 12000, "99203": 18500, "99204": 28500, "99205": 37500, "99211": 4500,
    "99212": 9500, "99213": 15000, "99214": 22500, "99215": 31000,
    "99381": 21000, "99382": 22500, "99383": 23500, "99384": 26000, "99385": 25000, "99386": 29000,
    "99387": 31500, "99391": 19000, "99392": 20500, "99393": 21000, "99394": 23000, "99395": 22000,
    "99396": 25500, "99397": 27500,
    "80053": 6500, "80061": 7000, "83036": 4500, "84443": 6000, "85025": 3800, "87880": 3500,
    "81003": 1500, "36415": 1800, "93000": 9500, "96372": 4000,
    "71046": 14500, "73030": 13000, "73721": 240000, "76856": 42000,
    "11102": 21000, "17110": 16500, "20610": 24000, "12001": 26000, "29881": 920000,
    "98005": 14000, "98006": 21000, "98013": 11000,
    "90471": 3000, "90472": 2000, "90656": 4200, "90715": 6500,
    "G0438": 24500, "G0439": 18500, "G0008": 3500, "G2211": 3200, "Q0091": 6500,
    "J1100": 150, "J3301": 600, "J1885": 900, "A4550": 4500,
}  # fmt: skip

PREVENTIVE_CODES: Final = frozenset(
    {c for c in FEES if c.startswith(("9938", "9939"))}
    | {"G0438", "G0439", "G0008", "Q0091", "90471", "90472", "90656", "90715"}
)
