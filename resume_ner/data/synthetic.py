"""A seeded generator of synthetic resumes annotated with the DataTurks label schema.

The sample data set (data.source=sample) of the project: no download, no dependency, the
same documents for the same seed on every machine. It uses every DataTurks label with the
exact label names, in the layouts resumes come in: the Indeed export of the DataTurks data
("Email me on Indeed: indeed.com/r/..."), pipe-separated modern headers, "Name - Title"
lines, "Key: value" CVs; bullets, date ranges, skill lists, projects. Entity surface forms
are drawn combinatorially from several hundred names, companies, cities, titles, skills,
degrees and colleges, so a model has to generalise rather than memorise.

Spans are recorded while the text is written, so they are exact (text[start:end] is the
entity string), sorted and non-overlapping. `long_fraction` of the documents are long
(many jobs and projects, well over 1,000 word-piece tokens); the others stay well under.
"""

from __future__ import annotations

import random

from resume_ner.data.document import Document, Span
from resume_ner.errors import ConfigError

NAME = "Name"
DESIGNATION = "Designation"
COMPANY = "Companies worked at"
SKILLS = "Skills"
LOCATION = "Location"
COLLEGE = "College Name"
DEGREE = "Degree"
EMAIL = "Email Address"
GRAD_YEAR = "Graduation Year"
YEARS = "Years of Experience"

LABELS = (NAME, DESIGNATION, COMPANY, SKILLS, LOCATION, COLLEGE, DEGREE, EMAIL, GRAD_YEAR, YEARS)

# --- vocabulary ---------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


FIRST_NAMES = _words(
    """
Aarav Abhishek Aditi Aditya Afreen Ajay Akash Akhil Akshay Alok Aman Amit Amrita Anand Anil
Anita Anjali Ankit Ankita Anoop Anshul Anupam Anusha Arjun Arun Aruna Arvind Ashish Ashok
Asif Avinash Ayesha Balaji Bharat Bhavana Chaitanya Chandan Deepa Deepak Deepika Devendra
Dhanya Dinesh Divya Gaurav Geeta Girish Gopal Govardhana Harish Harpreet Hemant Imran Ishaan
Jagdish Jasmine Jayant Jyoti Kalpana Karan Karthik Kavitha Kiran Krishna Kunal Lakshmi
Madhavi Mahesh Manish Manoj Meena Megha Mohammed Mohan Mukesh Nagaraj Naveen Neha Nikhil
Nisha Nitin Omkar Pallavi Pankaj Parveen Pooja Prabhu Pradeep Prakash Pranav Prasad Praveen
Preeti Priya Priyanka Rahul Rajat Rajesh Rajiv Rakesh Ramesh Ravi Rekha Ritu Rohan Rohit
Sachin Sahil Sameer Sandeep Sangeeta Sanjay Santosh Sapna Sarita Satish Saurabh Shalini
Shankar Sharad Shilpa Shivani Shreya Shubham Siddharth Sneha Sonal Srinivas Subhash Sudha
Sumit Sunil Sunita Suresh Swati Tanvi Tarun Uday Umesh Varun Vasudha Venkat Vidya Vijay
Vikas Vikram Vinay Vinod Vishal Vivek Yash Yogesh Zoya Adam Alice Andrew Anna Brian Carlos
Catherine Chloe Daniel David Diana Elena Emily Emma Ethan Fatima Grace Hannah Henry Isabel
Jack James Jason Jennifer Jessica John Jose Julia Kevin Laura Linda Lucas Maria Mark Mary
Matthew Michael Michelle Nathan Nicole Olivia Omar Patrick Paul Peter Rachel Robert Ryan
Samuel Sara Sophia Steven Thomas Victoria William Yusuf Zara Chen Wei Mei Hiroshi Yuki Ahmed
Layla Mateo Lucia
"""
)

LAST_NAMES = _words(
    """
Agarwal Ahmed Ali Arora Bajaj Banerjee Bansal Basu Bhat Bhatia Chakraborty Chandra
Chatterjee Chauhan Chopra Das Desai Deshmukh Dubey Dutta Fernandes Gandhi Ghosh Goel Gowda
Gupta Hegde Iyer Iyengar Jain Jha Joshi Kamath Kapoor Khan Khanna Kulkarni Kumar Kumari
Mehta Menon Mishra Mittal Mukherjee Murthy Nair Naidu Pandey Patel Patil Pillai Prasad
Qureshi Rao Rathore Reddy Saini Saxena Sen Shah Sharma Shetty Shukla Singh Sinha Srivastava
Subramanian Thakur Tiwari Trivedi Varma Verma Yadav Bhattacharya Chowdhury Dixit Garg Kaur
Malhotra Nambiar Pathak Raghavan Rajan Ramachandran Sethi Sood Venkatesh Krishnan Anderson
Brown Clark Davis Evans Garcia Green Hall Harris Hernandez Jackson Johnson Jones Kim Lee
Lewis Lopez Martin Martinez Miller Moore Nguyen Parker Perez Robinson Rodriguez Smith Taylor
Thompson Walker White Williams Wilson Wright Young Zhang Wang Liu Tanaka Sato Hassan Rossi
Muller Silva Costa
"""
)

INDIAN_CITIES = [
    ("Bangalore", "Karnataka"),
    ("Bengaluru", "Karnataka"),
    ("Mysore", "Karnataka"),
    ("Mangalore", "Karnataka"),
    ("Hubli", "Karnataka"),
    ("Chennai", "Tamil Nadu"),
    ("Coimbatore", "Tamil Nadu"),
    ("Madurai", "Tamil Nadu"),
    ("Hyderabad", "Telangana"),
    ("Secunderabad", "Telangana"),
    ("Warangal", "Telangana"),
    ("Pune", "Maharashtra"),
    ("Mumbai", "Maharashtra"),
    ("Nagpur", "Maharashtra"),
    ("Nashik", "Maharashtra"),
    ("Thane", "Maharashtra"),
    ("Navi Mumbai", "Maharashtra"),
    ("New Delhi", "Delhi"),
    ("Delhi", "Delhi"),
    ("Noida", "Uttar Pradesh"),
    ("Lucknow", "Uttar Pradesh"),
    ("Kanpur", "Uttar Pradesh"),
    ("Varanasi", "Uttar Pradesh"),
    ("Gurgaon", "Haryana"),
    ("Gurugram", "Haryana"),
    ("Faridabad", "Haryana"),
    ("Kolkata", "West Bengal"),
    ("Durgapur", "West Bengal"),
    ("Ahmedabad", "Gujarat"),
    ("Vadodara", "Gujarat"),
    ("Surat", "Gujarat"),
    ("Jaipur", "Rajasthan"),
    ("Udaipur", "Rajasthan"),
    ("Kochi", "Kerala"),
    ("Thiruvananthapuram", "Kerala"),
    ("Kozhikode", "Kerala"),
    ("Bhubaneswar", "Odisha"),
    ("Indore", "Madhya Pradesh"),
    ("Bhopal", "Madhya Pradesh"),
    ("Chandigarh", "Punjab"),
    ("Ludhiana", "Punjab"),
    ("Patna", "Bihar"),
    ("Ranchi", "Jharkhand"),
    ("Visakhapatnam", "Andhra Pradesh"),
    ("Vijayawada", "Andhra Pradesh"),
    ("Guntur", "Andhra Pradesh"),
    ("Dehradun", "Uttarakhand"),
    ("Guwahati", "Assam"),
    ("Raipur", "Chhattisgarh"),
    ("Goa", "Goa"),
]

WORLD_CITIES = [
    ("London", "UK"),
    ("Manchester", "UK"),
    ("Dublin", "Ireland"),
    ("Berlin", "Germany"),
    ("Munich", "Germany"),
    ("Amsterdam", "Netherlands"),
    ("Paris", "France"),
    ("Zurich", "Switzerland"),
    ("Stockholm", "Sweden"),
    ("Singapore", "Singapore"),
    ("Dubai", "UAE"),
    ("Abu Dhabi", "UAE"),
    ("Doha", "Qatar"),
    ("Tokyo", "Japan"),
    ("Sydney", "Australia"),
    ("Melbourne", "Australia"),
    ("Toronto", "ON"),
    ("Vancouver", "BC"),
    ("New York", "NY"),
    ("San Francisco", "CA"),
    ("San Jose", "CA"),
    ("Seattle", "WA"),
    ("Austin", "TX"),
    ("Dallas", "TX"),
    ("Chicago", "IL"),
    ("Boston", "MA"),
    ("Atlanta", "GA"),
    ("Columbus", "OH"),
    ("Charlotte", "NC"),
    ("Phoenix", "AZ"),
]

COMPANY_STEMS = _words(
    """
Accel Acme Aegis Agile Alpha Apex Aria Astra Atlas Azure Beacon Bluewave Bright Cedar
Citadel Clearpath Cloudnine Cobalt Crest Cyber Delta Digital Eagle Echo Elite Ember Epic
Evolve Falcon First Fusion Galaxy Global Horizon Hexa Infinite Insight Ion Jupiter Keystone
Kinetic Lambda Logic Lotus Maple Matrix Meridian Metro Nexus Nimbus Northstar Nova Omega
Orbit Orion Pinnacle Pixel Prime Pulse Quantum Quest Radiant Redwood Sapphire Silverline Sky
Solaris Spark Sterling Summit Synergy Terra Titan Trident Unity Vanguard Vector Vertex Vista
Zenith Zephyr
"""
)

COMPANY_SUFFIXES = [
    "Technologies",
    "Technologies Pvt Ltd",
    "Solutions",
    "Solutions Pvt. Ltd.",
    "Systems",
    "Software",
    "Infotech",
    "Infosystems",
    "Labs",
    "Consulting",
    "Consultancy Services",
    "Analytics",
    "Networks",
    "Services",
    "Inc.",
    "Limited",
    "Global Services",
    "IT Services",
    "Digital",
    "Softech",
]

KNOWN_COMPANIES = [
    "Infosys",
    "Infosys Limited",
    "Wipro",
    "Wipro Technologies",
    "Tata Consultancy Services",
    "TCS",
    "Accenture",
    "IBM",
    "IBM India Pvt Ltd",
    "Oracle",
    "Cognizant",
    "Cognizant Technology Solutions",
    "Capgemini",
    "HCL Technologies",
    "Tech Mahindra",
    "Mindtree",
    "Mphasis",
    "L&T Infotech",
    "Amazon",
    "Microsoft",
    "Google",
    "Deloitte",
    "Ernst & Young",
    "KPMG",
    "PwC",
    "SAP Labs",
    "Cisco Systems",
    "Dell",
    "HP",
    "Hewlett Packard Enterprise",
    "Flipkart",
    "Paytm",
    "Zoho",
    "Freshworks",
    "Genpact",
    "Syntel",
    "Hexaware Technologies",
    "Larsen & Toubro",
    "Reliance Industries",
    "HDFC Bank",
    "ICICI Bank",
    "Axis Bank",
    "Goldman Sachs",
    "JP Morgan Chase",
    "Barclays",
    "Citi",
    "Ericsson",
    "Nokia",
    "Samsung R&D Institute",
    "Intel",
    "Qualcomm",
    "Adobe",
    "VMware",
    "Siemens",
    "Bosch",
    "Honeywell",
    "Unisys",
    "Virtusa",
    "NIIT Technologies",
    "Birlasoft",
]

SENIORITY = ["Senior", "Sr.", "Junior", "Lead", "Principal", "Associate", "Staff", "Chief"]
DOMAINS = [
    *_words(
        """
Software Java Python .NET Data QA Test Automation Network Cloud DevOps SAP Salesforce Business
Systems Database Android iOS Web UI Frontend Backend Security ML Embedded Mainframe ETL BI
Oracle Support
"""
    ),
    "Full Stack",
    "Machine Learning",
    "Quality Assurance",
    "Big Data",
]
ROLES = [
    "Engineer",
    "Developer",
    "Analyst",
    "Consultant",
    "Architect",
    "Administrator",
    "Manager",
    "Specialist",
    "Scientist",
    "Tester",
    "Programmer",
]
FIXED_TITLES = [
    "Project Manager",
    "Program Manager",
    "Product Manager",
    "Team Lead",
    "Technical Lead",
    "Tech Lead",
    "Delivery Manager",
    "Business Analyst",
    "HR Executive",
    "HR Manager",
    "Recruiter",
    "Sales Executive",
    "Sales Manager",
    "Marketing Manager",
    "Account Manager",
    "Operations Manager",
    "Customer Support Executive",
    "Technical Support Engineer",
    "Intern",
    "Trainee",
    "Graduate Engineer Trainee",
    "Member Technical Staff",
    "Assistant Manager",
    "Deputy Manager",
    "General Manager",
    "Scrum Master",
    "Solution Architect",
    "Site Reliability Engineer",
    "Associate Consultant",
    "Process Associate",
    "Software Engineer",
    "Senior Software Engineer",
    "Systems Engineer",
    "Data Scientist",
]

SKILL_LIST = [
    "Python", "Java", "C", "C++", "C#", "JavaScript", "TypeScript", "Go", "Scala", "Kotlin",
    "Swift", "Ruby", "PHP", "Perl", "R", "MATLAB", "SQL", "PL/SQL", "T-SQL", "NoSQL", "HTML",
    "HTML5", "CSS", "CSS3", "Bootstrap", "jQuery", "AJAX", "JSON", "XML", "React", "React.js",
    "Angular", "AngularJS", "Vue.js", "Node.js", "Express.js", "Django", "Flask", "FastAPI",
    "Spring", "Spring Boot", "Hibernate", "Struts", "J2EE", "JSP", "Servlets", ".NET",
    "ASP.NET", "ADO.NET", "MVC", "REST", "RESTful APIs", "SOAP", "Microservices", "GraphQL",
    "MySQL", "PostgreSQL", "Oracle", "MongoDB", "Cassandra", "Redis", "SQL Server",
    "Elasticsearch", "DynamoDB", "Hadoop", "Spark", "PySpark", "Hive", "Pig", "Kafka", "Sqoop",
    "HBase", "Airflow", "Tableau", "Power BI", "Excel", "MS Office", "AWS", "Azure", "GCP",
    "EC2", "S3", "Lambda", "Docker", "Kubernetes", "Jenkins", "Git", "GitHub", "Bitbucket",
    "SVN", "Maven", "Gradle", "Ansible", "Terraform", "Chef", "Puppet", "Linux", "Unix",
    "Shell Scripting", "Bash", "PowerShell", "Windows Server", "Selenium", "TestNG", "JUnit",
    "Cucumber", "JIRA", "Confluence", "Postman", "SoapUI", "LoadRunner", "JMeter",
    "Manual Testing", "Automation Testing", "Agile", "Scrum", "Kanban", "Waterfall", "SDLC",
    "STLC", "Machine Learning", "Deep Learning", "NLP", "Computer Vision", "TensorFlow",
    "PyTorch", "Keras", "scikit-learn", "Pandas", "NumPy", "OpenCV", "Data Analysis",
    "Data Visualization", "Statistics", "SAP ABAP", "SAP FICO", "SAP MM", "SAP SD",
    "Salesforce", "Apex", "Visualforce", "ServiceNow", "Informatica", "Talend", "SSIS", "SSRS",
    "Cognos", "Mainframe", "COBOL", "JCL", "DB2", "CICS", "Android", "iOS", "Flutter",
    "React Native", "Networking", "TCP/IP", "Routing", "Switching", "CCNA", "Firewalls",
    "VMware", "Active Directory", "ITIL", "Project Management", "Team Management",
    "Leadership", "Communication", "Problem Solving", "Client Handling", "Recruitment",
    "Payroll", "Negotiation", "Digital Marketing", "SEO", "Content Writing", "Photoshop",
    "Illustrator", "Figma", "UI Design", "UX Research",
]  # fmt: skip

SKILL_GROUPS = [
    "Languages",
    "Programming Languages",
    "Frameworks",
    "Web Technologies",
    "Databases",
    "Tools",
    "Cloud",
    "DevOps",
    "Testing",
    "Big Data",
    "Methodologies",
    "Operating Systems",
    "Soft Skills",
    "Others",
]

# (short forms, long forms) of undergraduate and postgraduate degrees.
DEGREES_UG = (
    ["B.Tech", "B.E.", "B.E", "BE", "BCA", "B.Sc", "B.Com", "BBA", "Diploma", "B.S.", "BSc"],
    ["Bachelor of Technology", "Bachelor of Engineering", "Bachelor of Computer Applications",
     "Bachelor of Science", "Bachelor of Commerce", "Bachelor of Business Administration",
     "Diploma"],
)  # fmt: skip
DEGREES_PG = (
    ["M.Tech", "M.E.", "MCA", "M.Sc", "MBA", "PGDM", "M.Com", "Ph.D.", "M.S.", "MS"],
    ["Master of Technology", "Master of Engineering", "Master of Computer Applications",
     "Master of Science", "Master of Business Administration",
     "Post Graduate Diploma in Management", "Doctor of Philosophy"],
)  # fmt: skip
FIELDS = [
    "Computer Science",
    "Computer Science and Engineering",
    "Information Technology",
    "Electronics and Communication",
    "Electronics and Communication Engineering",
    "Electrical Engineering",
    "Electrical and Electronics Engineering",
    "Mechanical Engineering",
    "Civil Engineering",
    "Instrumentation",
    "Mathematics",
    "Physics",
    "Statistics",
    "Finance",
    "Marketing",
    "Human Resources",
    "Information Systems",
    "Data Science",
    "Biotechnology",
    "Chemical Engineering",
]

COLLEGE_PATTERNS = [
    "{city} Institute of Technology",
    "{city} Institute of Engineering and Technology",
    "{city} College of Engineering",
    "{city} Engineering College",
    "Government College of Engineering, {city}",
    "University of {city}",
    "{city} University",
    "Indian Institute of Technology, {city}",
    "National Institute of Technology, {city}",
    "Indian Institute of Management {city}",
    "{person} Institute of Technology",
    "{person} College of Engineering",
    "{person} University",
    "{person} Memorial College",
    "Sri {person} College of Engineering",
    "{person} Institute of Management Studies",
    "{stem} Institute of Technology and Science",
    "{stem} College of Arts and Science",
]
KNOWN_COLLEGES = [
    "Anna University",
    "VIT University",
    "Vellore Institute of Technology",
    "BITS Pilani",
    "Birla Institute of Technology and Science",
    "Pune University",
    "Savitribai Phule Pune University",
    "University of Mumbai",
    "Mumbai University",
    "Osmania University",
    "JNTU",
    "Jawaharlal Nehru Technological University",
    "Visvesvaraya Technological University",
    "VTU",
    "Delhi University",
    "Amity University",
    "Manipal Institute of Technology",
    "SRM University",
    "Christ University",
    "Symbiosis International University",
    "Jadavpur University",
    "Andhra University",
    "Calicut University",
    "Kerala University",
    "Nirma University",
    "Thapar University",
    "Lovely Professional University",
    "Kurukshetra University",
    "Rajasthan Technical University",
    "Gujarat Technological University",
    "Madras Christian College",
    "Loyola College",
    "St. Xavier's College",
    "PSG College of Technology",
    "RV College of Engineering",
    "BMS College of Engineering",
    "Stanford University",
    "Arizona State University",
    "University of Texas at Dallas",
    "Northeastern University",
    "Carnegie Mellon University",
    "University of Southern California",
]
COLLEGE_PERSONS = """
Rajiv Gandhi; Jawaharlal Nehru; Mahatma Gandhi; Sardar Patel; Vivekananda; Ramaiah;
Sathyabama; Shivaji; Tagore; Bharathidasan; Dr. Ambedkar; Guru Nanak; Sri Venkateswara;
Shri Ram; Annamalai; Kalinga; Manipal; Nagarjuna; Siddaganga; Vidyavardhaka
""".replace("\n", " ").split(";")

EMAIL_DOMAINS = ["gmail.com", "yahoo.com", "yahoo.co.in", "outlook.com", "hotmail.com",
                 "rediffmail.com", "live.com", "protonmail.com", "icloud.com"]  # fmt: skip

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]  # fmt: skip
MONTHS_SHORT = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                "Dec"]  # fmt: skip

VERBS = _words(
    """
Developed Designed Implemented Built Maintained Led Managed Coordinated Automated Migrated
Optimized Tested Deployed Reviewed Created Configured Supported Analyzed Improved Delivered
Handled Integrated Monitored Documented Refactored Mentored Streamlined
"""
)
OBJECTS = ["REST services", "the billing module", "data pipelines", "regression test suites",
           "the customer portal", "internal dashboards", "batch jobs", "the payments platform",
           "reporting tools", "microservices", "ETL workflows", "the release process",
           "unit tests", "user stories", "production incidents", "the onboarding flow",
           "the inventory system", "client requirements", "database schemas",
           "CI/CD pipelines", "the mobile app", "vendor integrations", "monitoring alerts",
           "the recruitment process", "quarterly reports", "sales campaigns",
           "a team of 6 engineers", "legacy code", "the search feature"]  # fmt: skip
PURPOSES = ["to reduce processing time by {n}%", "for {n} enterprise clients",
            "improving performance by {n}%", "within strict deadlines",
            "across {n} business units", "in an Agile environment",
            "with zero downtime", "for the US market", "cutting costs by {n}%",
            "as per client requirements", "handling {n}K requests per day"]  # fmt: skip
PROJECT_WORDS = ["Customer", "Inventory", "Payroll", "Loan", "Insurance", "Retail", "Claims",
                 "Banking", "Healthcare", "Logistics", "Billing", "Analytics", "Learning",
                 "Fleet", "Hotel", "Trading", "Energy", "Telecom", "Travel", "Order"]  # fmt: skip
PROJECT_KINDS = ["Management System", "Portal", "Platform", "Dashboard", "Migration",
                 "Automation", "Tracker", "Gateway", "Data Warehouse", "Mobile App",
                 "Recommendation Engine", "Chatbot"]  # fmt: skip
SUMMARY_TAILS = [
    "software development and maintenance",
    "designing scalable applications",
    "testing and quality assurance",
    "data analysis and reporting",
    "end-to-end project delivery",
    "client facing roles",
    "building web applications",
    "cloud infrastructure and automation",
    "talent acquisition and HR operations",
    "sales and business development",
]
HOBBIES = ["Reading", "Cricket", "Traveling", "Music", "Chess", "Photography", "Cooking",
           "Badminton", "Yoga", "Painting"]  # fmt: skip
LANGUAGES = ["English", "Hindi", "Tamil", "Telugu", "Kannada", "Marathi", "Malayalam",
             "Bengali", "Gujarati", "French", "German"]  # fmt: skip


# --- text builder -------------------------------------------------------------------------


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.spans: list[Span] = []

    def add(self, text: str) -> _Builder:
        self.parts.append(text)
        self.length += len(text)
        return self

    def ent(self, text: str, label: str) -> _Builder:
        assert text and text == text.strip(), text
        self.spans.append(Span(self.length, self.length + len(text), label))
        return self.add(text)

    def seq(self, pieces: list[str | tuple[str, str]]) -> _Builder:
        for piece in pieces:
            if isinstance(piece, tuple):
                self.ent(*piece)
            else:
                self.add(piece)
        return self

    def text(self) -> str:
        return "".join(self.parts)


# --- entity makers ------------------------------------------------------------------------


class _Person:
    def __init__(self, rng: random.Random) -> None:
        self.first = rng.choice(FIRST_NAMES)
        self.last = rng.choice(LAST_NAMES)
        style = rng.random()
        if style < 0.55:
            self.name = f"{self.first} {self.last}"
        elif style < 0.7:
            self.name = f"{self.first} {self.last[0]}"
        elif style < 0.8:
            self.name = f"{self.first} {rng.choice('ABCDEGHJKLMNPRSTV')}. {self.last}"
        elif style < 0.9:
            self.name = f"{self.first} {self.last}".upper()
        else:
            self.name = f"{self.first} {rng.choice(LAST_NAMES)} {self.last}"
        self.email = _email(rng, self.first, self.last)


def _email(rng: random.Random, first: str, last: str) -> str:
    f, ln = first.lower(), last.lower()
    style = rng.random()
    if style < 0.25:
        return f"indeed.com/r/{first}-{last}/{rng.getrandbits(64):016x}"
    user = rng.choice(
        [f"{f}.{ln}", f"{f}{ln}", f"{f}_{ln}", f"{f[0]}{ln}", f"{f}.{ln[0]}", f"{ln}.{f}", f]
    )
    if rng.random() < 0.5:
        user += str(rng.randint(1, 99) if rng.random() < 0.6 else rng.randint(1980, 2000))
    return f"{user}@{rng.choice(EMAIL_DOMAINS)}"


def _phone(rng: random.Random) -> str:
    digits = f"{rng.randint(6, 9)}{rng.randint(0, 999_999_999):09d}"
    style = rng.random()
    if style < 0.4:
        return f"+91 {digits}"
    if style < 0.7:
        return f"+91-{digits[:5]}-{digits[5:]}"
    return digits


def _city(rng: random.Random) -> tuple[str, str]:
    return rng.choice(WORLD_CITIES) if rng.random() < 0.12 else rng.choice(INDIAN_CITIES)


def _location(rng: random.Random) -> str:
    city, region = _city(rng)
    style = rng.random()
    if style < 0.45 or city == region:
        return city
    if style < 0.9:
        return f"{city}, {region}"
    return f"{city}, {region}, India" if (city, region) in INDIAN_CITIES else f"{city}, {region}"


def _company(rng: random.Random) -> str:
    if rng.random() < 0.45:
        return rng.choice(KNOWN_COMPANIES)
    stem = rng.choice(COMPANY_STEMS)
    if rng.random() < 0.25:
        stem += rng.choice(["soft", "tech", "ware", "logic", "byte", "data", "works"])
    return f"{stem} {rng.choice(COMPANY_SUFFIXES)}"


def _title(rng: random.Random) -> str:
    if rng.random() < 0.35:
        return rng.choice(FIXED_TITLES)
    title = f"{rng.choice(DOMAINS)} {rng.choice(ROLES)}"
    if rng.random() < 0.5:
        title = f"{rng.choice(SENIORITY)} {title}"
    return title


def _degree(rng: random.Random, postgraduate: bool) -> str:
    short, long = DEGREES_PG if postgraduate else DEGREES_UG
    style = rng.random()
    if style < 0.35:
        return f"{rng.choice(short)} in {rng.choice(FIELDS)}"
    if style < 0.55:
        return rng.choice(short)
    if style < 0.85:
        return f"{rng.choice(long)} in {rng.choice(FIELDS)}"
    return f"{rng.choice(short)} ({rng.choice(FIELDS)})"


def _college(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return rng.choice(KNOWN_COLLEGES)
    pattern = rng.choice(COLLEGE_PATTERNS)
    return pattern.format(
        city=_city(rng)[0],
        person=rng.choice(COLLEGE_PERSONS).strip(),
        stem=rng.choice(COMPANY_STEMS),
    )


def _years(rng: random.Random, total: int) -> str:
    style = rng.random()
    if style < 0.4:
        return f"{total} years"
    if style < 0.6:
        return f"{total}+ years"
    if style < 0.75:
        return f"{total}.{rng.choice([5, 2, 8])} years"
    if style < 0.9:
        return f"{total} Years"
    return f"{total} years {rng.randint(1, 11)} months"


def _skills(rng: random.Random, k: int) -> list[str]:
    return rng.sample(SKILL_LIST, k)


def _month_year(rng: random.Random, year: int, short: bool) -> str:
    months = MONTHS_SHORT if short else MONTHS
    return f"{rng.choice(months)} {year}"


# --- document pieces ----------------------------------------------------------------------


class _Career:
    """A person's jobs (most recent first) and education, shared by all layouts."""

    def __init__(self, rng: random.Random, long: bool) -> None:
        self.grad_year = rng.randint(1998, 2020)
        n_jobs = rng.randint(7, 11) if long else rng.randint(1, 3)
        year = self.grad_year
        jobs = []
        for _ in range(n_jobs):
            start = year
            end = min(start + rng.randint(1, 3), 2024)
            jobs.append((_title(rng), _company(rng), _location(rng), start, end))
            year = end
        self.total_years = max(1, year - self.grad_year)
        present = rng.random() < 0.6
        self.jobs = [
            (title, company, location, start, None if i == len(jobs) - 1 and present else end)
            for i, (title, company, location, start, end) in enumerate(jobs)
        ][::-1]
        self.education = [(_degree(rng, False), _college(rng), _location(rng), self.grad_year)]
        if rng.random() < 0.35:
            self.education.insert(
                0,
                (
                    _degree(rng, True),
                    _college(rng),
                    _location(rng),
                    min(self.grad_year + rng.randint(2, 4), 2024),
                ),
            )
        self.skills = _skills(rng, rng.randint(6, 16))


def _dates(rng: random.Random, start: int, end: int | None, short: bool) -> str:
    first = _month_year(rng, start, short)
    last = "Present" if end is None else _month_year(rng, end, short)
    return f"{first}{rng.choice([' to ', ' - ', ' – '])}{last}"


def _bullet_sentence(rng: random.Random) -> list[str | tuple[str, str]]:
    n = rng.randint(5, 60)
    purpose = rng.choice(PURPOSES).format(n=n)
    pieces: list[str | tuple[str, str]] = [f"{rng.choice(VERBS)} {rng.choice(OBJECTS)}"]
    if rng.random() < 0.45:
        a, b = _skills(rng, 2)
        pieces += [" using ", (a, SKILLS)]
        if rng.random() < 0.5:
            pieces += [" and ", (b, SKILLS)]
    pieces.append(f" {purpose}.")
    return pieces


def _bullets(b: _Builder, rng: random.Random, count: int, marker: str) -> None:
    for _ in range(count):
        b.add(marker).seq(_bullet_sentence(rng)).add("\n")


def _projects(b: _Builder, rng: random.Random, career: _Career, count: int) -> None:
    b.add(rng.choice(["PROJECTS", "Projects", "PROJECT DETAILS", "Key Projects"]) + "\n\n")
    for k in range(count):
        name = f"{rng.choice(PROJECT_WORDS)} {rng.choice(PROJECT_KINDS)}"
        b.add(f"Project #{k + 1}: {name}\n")
        b.add("Role: ").ent(_title(rng), DESIGNATION).add("\n")
        b.add(f"Team Size: {rng.randint(3, 25)}\n")
        b.add("Environment: ")
        skills = _skills(rng, rng.randint(3, 6))
        for i, skill in enumerate(skills):
            b.add(", " if i else "").ent(skill, SKILLS)
        b.add("\nDescription: The project delivers a ")
        b.add(f"{name.lower()} used by {rng.randint(2, 90)} teams. ")
        b.add("It replaced a manual, error-prone process.\nResponsibilities:\n")
        _bullets(b, rng, rng.randint(3, 6), rng.choice(["• ", "- ", "* "]))
        b.add("\n")


def _skill_list(b: _Builder, rng: random.Random, skills: list[str], sep: str) -> None:
    for i, skill in enumerate(skills):
        b.add(sep if i else "").ent(skill, SKILLS)
        if rng.random() < 0.2:
            b.add(f" ({rng.randint(1, 9)} years)")


def _extras(b: _Builder, rng: random.Random, person: _Person) -> None:
    style = rng.random()
    if style < 0.3:
        b.add("\nADDITIONAL INFORMATION\n\n")
        b.add(f"Languages known: {', '.join(rng.sample(LANGUAGES, 3))}\n")
        b.add(f"Hobbies: {', '.join(rng.sample(HOBBIES, 3))}\n")
    elif style < 0.55:
        b.add("\nDeclaration\nI hereby declare that the above information is true to the ")
        b.add("best of my knowledge.\n\nPlace: ").ent(_city(rng)[0], LOCATION)
        b.add(f"\nDate: {rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/2024\n(")
        b.ent(person.name, NAME).add(")\n")
    elif style < 0.75:
        b.add(f"\nPERSONAL DETAILS\nDate of Birth: {rng.randint(1, 28)} ")
        b.add(f"{rng.choice(MONTHS)} {rng.randint(1975, 2000)}\n")
        b.add(f"Languages: {', '.join(rng.sample(LANGUAGES, 2))}\n")


def _indeed(b: _Builder, rng: random.Random, person: _Person, career: _Career, long: bool):
    title, company, *_ = career.jobs[0]
    b.ent(person.name, NAME).add("\n").ent(title, DESIGNATION)
    if rng.random() < 0.5:
        b.add(" - ").ent(company, COMPANY)
    b.add("\n\n").ent(_location(rng), LOCATION)
    if person.email.startswith("indeed.com"):
        b.add(" - Email me on Indeed: ").ent(person.email, EMAIL).add("\n\n")
    else:
        b.add(" - ").ent(person.email, EMAIL).add("\n\n")
    if rng.random() < 0.6:
        b.add("Total IT experience ").ent(_years(rng, career.total_years), YEARS).add("\n\n")
    else:
        b.add("Having ").ent(_years(rng, career.total_years), YEARS)
        b.add(f" of experience in {rng.choice(SUMMARY_TAILS)}.\n\n")
    if rng.random() < 0.5:
        b.add("Willing to relocate to: ").ent(_city(rng)[0], LOCATION)
        b.add(" - ").ent(_city(rng)[0], LOCATION).add("\n\n")
    b.add("WORK EXPERIENCE\n\n")
    for title, company, location, start, end in career.jobs:
        b.ent(title, DESIGNATION).add("\n\n").ent(company, COMPANY).add(" - ")
        b.ent(location, LOCATION).add(" -\n\n").add(_dates(rng, start, end, False)).add("\n\n")
        _bullets(b, rng, rng.randint(4, 7) if long else rng.randint(1, 3), "- ")
        b.add("\n")
    b.add("EDUCATION\n\n")
    for degree, college, location, year in career.education:
        b.ent(degree, DEGREE).add("\n\n").ent(college, COLLEGE).add(" - ")
        b.ent(location, LOCATION).add(f"\n\n{year - rng.choice([2, 3, 4])} to ")
        b.ent(str(year), GRAD_YEAR).add("\n\n")
    if long:
        _projects(b, rng, career, rng.randint(4, 7))
    b.add("SKILLS\n\n")
    _skill_list(b, rng, career.skills, ", ")
    b.add("\n")
    _extras(b, rng, person)


def _modern(b: _Builder, rng: random.Random, person: _Person, career: _Career, long: bool):
    title = career.jobs[0][0]
    b.ent(person.name, NAME).add("\n").ent(title, DESIGNATION).add(" | ")
    b.ent(_location(rng), LOCATION).add(" | ").ent(person.email, EMAIL)
    b.add(f" | {_phone(rng)}\n\n")
    b.add(rng.choice(["PROFESSIONAL SUMMARY", "SUMMARY", "Profile", "ABOUT ME"]) + "\n")
    b.ent(_title(rng), DESIGNATION).add(" with ").ent(_years(rng, career.total_years), YEARS)
    b.add(f" of experience in {rng.choice(SUMMARY_TAILS)}. Skilled in ")
    a, c = rng.sample(career.skills, 2)
    b.ent(a, SKILLS).add(" and ").ent(c, SKILLS).add(".\n\n")
    b.add(rng.choice(["TECHNICAL SKILLS", "SKILLS", "Core Competencies"]) + "\n")
    skills = list(career.skills)
    groups = rng.sample(SKILL_GROUPS, min(len(SKILL_GROUPS), max(1, len(skills) // 3)))
    for g, group in enumerate(groups):
        chunk = skills[g * 3 : (g + 1) * 3] if g < len(groups) - 1 else skills[g * 3 :]
        if chunk:
            b.add(f"• {group}: ")
            _skill_list(b, rng, chunk, rng.choice([", ", " | ", " / "]))
            b.add("\n")
    b.add("\n" + rng.choice(["EXPERIENCE", "PROFESSIONAL EXPERIENCE", "Work History"]) + "\n")
    for title, company, location, start, end in career.jobs:
        b.ent(company, COMPANY).add(" | ").ent(title, DESIGNATION).add(" | ")
        b.ent(location, LOCATION).add(f" | {_dates(rng, start, end, True)}\n")
        _bullets(b, rng, rng.randint(4, 7) if long else rng.randint(2, 3), "• ")
        b.add("\n")
    if long:
        _projects(b, rng, career, rng.randint(4, 7))
    b.add(rng.choice(["EDUCATION", "Education", "ACADEMIC QUALIFICATIONS"]) + "\n")
    for degree, college, _, year in career.education:
        b.ent(degree, DEGREE).add(" | ").ent(college, COLLEGE).add(" | ")
        b.ent(str(year), GRAD_YEAR).add("\n")
    _extras(b, rng, person)


def _dash(b: _Builder, rng: random.Random, person: _Person, career: _Career, long: bool):
    b.ent(person.name, NAME).add(" - ").ent(career.jobs[0][0], DESIGNATION).add("\n")
    b.add("Email: ").ent(person.email, EMAIL).add(f"\nPhone: {_phone(rng)}\nAddress: ")
    b.ent(_location(rng), LOCATION).add("\n\nObjective:\n")
    b.add("To work in a challenging environment where I can use my skills. I have ")
    b.ent(_years(rng, career.total_years), YEARS).add(" of experience as a ")
    b.ent(_title(rng), DESIGNATION).add(".\n\nExperience:\n")
    for title, company, location, start, end in career.jobs:
        b.ent(title, DESIGNATION).add(" at ").ent(company, COMPANY).add(", ")
        b.ent(location, LOCATION).add(f" ({_dates(rng, start, end, rng.random() < 0.5)})\n")
        _bullets(b, rng, rng.randint(4, 7) if long else rng.randint(1, 3), "- ")
    b.add("\nEducation:\n")
    for degree, college, _, year in career.education:
        b.add("- ").ent(degree, DEGREE).add(" from ").ent(college, COLLEGE).add(", ")
        b.ent(str(year), GRAD_YEAR).add("\n")
    if long:
        b.add("\n")
        _projects(b, rng, career, rng.randint(4, 7))
    b.add("\nSkills: ")
    _skill_list(b, rng, career.skills, ", ")
    b.add("\n")
    _extras(b, rng, person)


def _keyvalue(b: _Builder, rng: random.Random, person: _Person, career: _Career, long: bool):
    b.add(rng.choice(["CURRICULUM VITAE", "RESUME", "Resume"]) + "\n\nName: ")
    b.ent(person.name, NAME).add("\nE-mail: ").ent(person.email, EMAIL)
    b.add(f"\nMobile: {_phone(rng)}\nCurrent Location: ").ent(_location(rng), LOCATION)
    b.add("\nTotal Experience: ").ent(_years(rng, career.total_years), YEARS)
    b.add("\nCurrent Designation: ").ent(career.jobs[0][0], DESIGNATION).add("\n\n")
    b.add("EMPLOYMENT HISTORY\n\n")
    for title, company, location, start, end in career.jobs:
        b.add("Company: ").ent(company, COMPANY).add(", ").ent(location, LOCATION)
        b.add("\nDesignation: ").ent(title, DESIGNATION)
        b.add(f"\nDuration: {_dates(rng, start, end, True)}\nResponsibilities:\n")
        _bullets(b, rng, rng.randint(4, 7) if long else rng.randint(1, 3), "* ")
        b.add("\n")
    if long:
        _projects(b, rng, career, rng.randint(4, 7))
    b.add("ACADEMIC QUALIFICATION\n\n")
    for degree, college, _, year in career.education:
        b.ent(degree, DEGREE).add("\t").ent(college, COLLEGE).add("\t")
        b.ent(str(year), GRAD_YEAR).add("\n")
    b.add("\nKEY SKILLS\n")
    for skill in career.skills:
        b.add("• ").ent(skill, SKILLS).add("\n")
    _extras(b, rng, person)


LAYOUTS = (_indeed, _modern, _dash, _keyvalue)
LAYOUT_WEIGHTS = (0.4, 0.25, 0.2, 0.15)


def generate_one(rng: random.Random, long: bool = False) -> tuple[str, list[Span]]:
    """The text and spans of one synthetic resume."""
    person = _Person(rng)
    career = _Career(rng, long)
    layout = rng.choices(LAYOUTS, weights=LAYOUT_WEIGHTS)[0]
    b = _Builder()
    layout(b, rng, person, career, long)
    return b.text(), b.spans


def generate(num_docs: int, seed: int, long_fraction: float = 0.15) -> list[Document]:
    """`num_docs` synthetic resumes, the same for the same seed.

    round(num_docs * long_fraction) of them (chosen at random) are long.
    """
    if num_docs < 0:
        raise ConfigError(f"data.sample.num_docs must be >= 0, got {num_docs}")
    if not 0.0 <= long_fraction <= 1.0:
        raise ConfigError(f"data.sample.long_fraction must be within [0, 1], got {long_fraction}")
    picker = random.Random(f"resume-ner-sample:{seed}")
    long_docs = set(picker.sample(range(num_docs), round(num_docs * long_fraction)))
    documents = []
    for index in range(num_docs):
        rng = random.Random(f"resume-ner-sample:{seed}:{index}")
        text, spans = generate_one(rng, long=index in long_docs)
        document = Document(text=text, spans=spans, source=f"sample:{seed}#{index}",
                            id=f"sample-{seed}-{index}")  # fmt: skip
        document.validate()
        documents.append(document)
    return documents
