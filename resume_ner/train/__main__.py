from resume_ner.train.app import main

main()
