"""Deterministic, realistic, fake patients for demos and benchmarks (no real person's data)."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, insert
from sqlmodel import Session, select

from portal_app.models import ChartAccountState, Patient
from portal_app.services import clock
from portal_app.services.onboarding import sort_key

FIRST = ("James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
         "Richard Susan Joseph Jessica Thomas Sarah Carlos Karen Daniel Lisa Matthew Nancy Anthony "
         "Betty Mark Sandra Donald Ashley Steven Kimberly Andrew Emily Joshua Donna Kenneth Michelle "
         "Kevin Carol Brian Amanda George Melissa Timothy Deborah Ronald Stephanie Jason Rebecca "
         "Edward Sharon Jeffrey Laura Ryan Cynthia Jacob Amy Gary Kathleen Nicholas Angela Eric "
         "Shirley Jonathan Brenda Stephen Emma Larry Anna Justin Pamela Scott Nicole Brandon Samantha "
         "Benjamin Katherine Samuel Christine Gregory Debra Alexander Rachel Patrick Carolyn Frank "
         "Janet Raymond Maria Jack Olivia Dennis Heather Jerry Helen Tyler Catherine Aaron Diane "
         "Jose Julie Adam Victoria Nathan Joyce Henry Lauren Zachary Kelly Douglas Christina Peter "
         "Ruth Kyle Joan Noah Virginia Ethan Judith Jeremy Evelyn Walter Hannah Christian Andrea "
         "Keith Megan Roger Cheryl Terry Jacqueline Austin Madison Sean Teresa Gerald Abigail Carl "
         "Sophia Harold Martha Dylan Sara Arthur Gloria Lawrence Janice Jordan Kathryn Jesse Ann "
         "Bryan Isabella Billy Judy Bruce Charlotte Gabriel Julia Joe Grace Logan Amber Alan Alice "
         "Juan Jean Albert Denise Willie Frances Elijah Danielle Wayne Marilyn Randy Natalie Vincent "
         "Beverly Mason Diana Roy Brittany Ralph Theresa Bobby Kayla Russell Alexis Bradley Doris "
         "Philip Lori Eugene Tiffany Wei Mei Hiroshi Yuki Priya Arjun Fatima Omar Aisha Mohammed "
         "Chen Ling Kwame Amara Sofia Mateo Lucia Diego Valentina Santiago Camila Ngozi Chidi").split()
LAST = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
        "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
        "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
        "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips "
        "Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers "
        "Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson "
        "Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo "
        "Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell "
        "Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson "
        "Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera "
        "Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez "
        "McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns "
        "Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt "
        "Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer "
        "Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant "
        "Dunn Kelley Spencer Hawkins Arnold Pierce Vazquez Hansen Peters Santos Hart Bradley Knight "
        "Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Ray Delgado "
        "Berry Perkins Hoffman Johnston Matthews Pena Richards Contreras Willis Carpenter Lawrence "
        "Sandoval Okafor Adeyemi Tanaka Yamamoto Singh Sharma Khan Ali Wang Zhang Liu Park Choi").split()
STREETS = ("Maple Oak Cedar Pine Elm Willow Birch Lakeview Hillcrest Sunset Riverside Park Main "
           "Church Mill Spring Meadow Forest Highland Valley").split()
CITIES = (("Springfield", "IL", "627"), ("Riverton", "WY", "825"), ("Fairview", "TN", "370"),
          ("Madison", "WI", "537"), ("Georgetown", "TX", "786"), ("Salem", "OR", "973"),
          ("Franklin", "MA", "020"), ("Clinton", "NC", "283"))
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")


AREA_CODES = ("201", "312", "415", "512", "617", "702", "919", "971")


def _fictional_phone(rng: random.Random) -> str:
    # 555-0100..0199 is reserved for fiction in the North American plan, yet passes validation.
    return f"+1{rng.choice(AREA_CODES)}5550{rng.randint(100, 199)}"


def patient_count(*, session: Session) -> int:
    return session.exec(select(func.count()).select_from(Patient)).one()


def generate(*, session: Session, count: int, seed: int = 20261123, batch: int = 10_000) -> int:
    """Insert `count` fake patients in bulk. About 1 in 6 has no email; 1 in 4 is enabled.

    Chart numbers continue after the existing ones, so it can be run again to add more.
    """
    rng = random.Random(seed + patient_count(session=session))
    start = patient_count(session=session) + 1
    today = clock.now().date()
    created = clock.now()
    rows: list[dict] = []
    inserted = 0
    for number in range(start, start + count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        dob = today - timedelta(days=rng.randint(1 * 365, 95 * 365))
        has_email = rng.random() > 0.16
        email = f"{first}.{last}{number}@{rng.choice(DOMAINS)}".lower() if has_email else ""
        city, region, zip_prefix = rng.choice(CITIES)
        rows.append({
            "chart_number": f"C{number:07d}", "first_name": first, "last_name": last,
            "middle_name": rng.choice("ABCDEFGHJKLMNPRSTW") if rng.random() < 0.4 else "",
            "preferred_name": "", "sex": rng.choice(("Female", "Male")), "dob": dob,
            "email": email, "email_lower": email,
            "mobile_phone": _fictional_phone(rng) if rng.random() < 0.8 else "",
            "home_phone": _fictional_phone(rng) if rng.random() < 0.3 else "",
            "address_line1": f"{rng.randint(1, 9999)} {rng.choice(STREETS)} St",
            "city": city, "region": region, "postal_code": f"{zip_prefix}{rng.randint(10, 99)}",
            "allow_email": has_email and rng.random() > 0.05, "allow_sms": rng.random() < 0.5,
            "portal_enabled": rng.random() < 0.25, "account_state": ChartAccountState.NONE.name,
            "sort_key": sort_key(last, first), "created_at": created, "updated_at": created,
        })
        if len(rows) >= batch:
            session.execute(insert(Patient), rows)
            inserted += len(rows)
            rows = []
    if rows:
        session.execute(insert(Patient), rows)
        inserted += len(rows)
    session.commit()
    return inserted
